"""MXFP4 tiles for the MXFP4 array (hdl.mx_array): random tiles, their beats, the golden check.

What the Amaranth-simulator test and the cocotb testbench of the array share. A tile is
``(a, a_scales, b, b_scales)``: (R, K) and (K, C) E2M1 codes, (R, K/32) and (K/32, C) E8M0
scales. Tiles stream back to back (:func:`tile_beats`); the ``o_c`` beats that come back are
compared for equality with :func:`golden.gemm_mx.gemm_mxfp4` (:func:`check_tiles`).
"""

from __future__ import annotations

import numpy as np

from golden.fp4 import E8M0_NAN
from golden.gemm_mx import gemm_mxfp4
from golden.mx import MXFP4_BLOCK
from sim.mx_array_payload import pack_a, pack_anchors, pack_b, tile_anchors, unpack_c
from verif.lib.mx_dots import SCALE_MAX

#: Binades over which a random tile's block exponents spread (0: one scale for all).
SPREADS = (0, 2, 8, 20, 30, 40, 120)


def random_tile(rng: np.random.Generator, rows: int, cols: int, blocks: int, *,
                spread: int | None = None, nan: float = 0.0):
    """A random tile of ``blocks`` blocks; scales within about ``spread`` binades (default a
    random one of :data:`SPREADS`), each NaN with probability ``nan``; codes uniform, or a
    row of zeros or of the largest magnitude now and then."""
    spread = int(rng.choice(SPREADS)) if spread is None else spread
    k = blocks * MXFP4_BLOCK
    a, b = rng.integers(0, 16, (rows, k)), rng.integers(0, 16, (k, cols))
    if rng.random() < 0.3:
        a[rng.integers(rows)] = 7 | 8 * rng.integers(0, 2, k)
    if rng.random() < 0.2:
        b[:, rng.integers(cols)] = 8 * rng.integers(0, 2, k)

    def scales(shape):
        half = SCALE_MAX // 2
        base = int(rng.integers(half // 2 + spread // 4, half + half // 2 - spread // 4 + 1))
        s = np.clip(base + rng.integers(-(spread // 4), spread // 4 + 1, shape), 0, SCALE_MAX)
        return np.where(rng.random(shape) < nan, E8M0_NAN, s)

    return a, scales((rows, blocks)), b, scales((blocks, cols))


def tile_beats(tiles) -> tuple[list, list, list]:
    """(i_a beats, i_b beats, i_anchor beats) of ``tiles`` back to back."""
    a_beats, b_beats, anchors = [], [], []
    for a, sa, b, sb in tiles:
        a_beats += pack_a(a, sa)
        b_beats += pack_b(b, sb)
        anchors.append(pack_anchors(tile_anchors(sa, sb)))
    return a_beats, b_beats, anchors


def check_tiles(out, tiles, *, rows: int, cols: int, acc_width: int, frac_bits: int,
                what: str) -> None:
    """Assert that the ``o_c`` payloads ``out`` are golden for every tile, flags included
    (``malformed`` clear, ``last`` on every R-th row); ``what`` (the seed) opens each message."""
    assert len(out) == len(tiles) * rows, f"{what}: {len(out)} o_c beats for {len(tiles)} tiles"
    got = unpack_c(out, cols, acc_width)
    np.testing.assert_array_equal(got["last"], np.arange(len(out)) % rows == rows - 1,
                                  err_msg=f"{what}: o_c last flags")
    for t, (a, sa, b, sb) in enumerate(tiles):
        want = gemm_mxfp4(a, sa, b, sb, frac_bits=frac_bits)
        rows_t = slice(t * rows, (t + 1) * rows)
        where = f"{what}: tile {t} (K {a.shape[1]}, scales A {sa.tolist()}, B {sb.tolist()})"
        for name in ("acc", "inexact", "nan"):
            np.testing.assert_array_equal(got[name][rows_t], getattr(want, name),
                                          err_msg=f"{where}: {name} differs")
        assert not got["malformed"][rows_t].any(), f"{where}: malformed set"
