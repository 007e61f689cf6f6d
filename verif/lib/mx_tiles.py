"""Block-scaled FP4 tiles for the arrays of hdl.mx_array: random tiles, their beats, the
golden check, for MXFP4 (:data:`MX`) and NVFP4 (:data:`NV`).

What the Amaranth-simulator tests and the cocotb testbench of the arrays share. A tile is
``(a, a_scales, b, b_scales)``: (R, K) and (K, C) E2M1 codes, (R, K/block) and (K/block, C)
scale codes (E8M0 blocks of 32, E4M3 blocks of 16). Tiles stream back to back
(:func:`tile_beats`); the ``o_c`` beats that come back are compared for equality with the
format's golden GEMM (:func:`check_tiles`). A :class:`TileFormat` says what differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from golden.fp4 import E8M0_NAN
from golden.gemm_mx import gemm_mxfp4
from golden.gemm_nv import gemm_nvfp4
from hdl.mx_array import MXFP4, NVFP4, ArrayFamily
from sim.mx_array_payload import (nv_tile_anchors, pack_a, pack_anchors, pack_b, tile_anchors,
                                  unpack_c)
from verif.lib.mx_dots import SCALE_MAX
from verif.lib.nv_dots import NANS, scale_code

#: Binades over which a random MXFP4 tile's block exponents spread (0: one scale for all).
SPREADS = (0, 2, 8, 20, 30, 40, 120)
#: The same for an NVFP4 tile: spreads of each operand's E4M3 exponent fields (1..15).
NV_SPREADS = (0, 2, 6, 14)


def _e8m0_scales(rng, shape, spread: int, nan: float) -> np.ndarray:
    half = SCALE_MAX // 2
    base = int(rng.integers(half // 2 + spread // 4, half + half // 2 - spread // 4 + 1))
    s = np.clip(base + rng.integers(-(spread // 4), spread // 4 + 1, shape), 0, SCALE_MAX)
    return np.where(rng.random(shape) < nan, E8M0_NAN, s)


def _e4m3_scales(rng, shape, spread: int, nan: float) -> np.ndarray:
    """E4M3 codes of either sign whose max(e, 1) lie within ``spread`` of each other (field
    1 takes subnormals and zeros, :func:`verif.lib.nv_dots.scale_code`), NaN (0x7F, 0xFF)
    with probability ``nan``."""
    base = int(rng.integers(1, 16 - spread))
    fields = base + rng.integers(0, spread + 1, shape)
    s = np.array([scale_code(rng, int(f)) for f in fields.flat]).reshape(shape)
    return np.where(rng.random(shape) < nan, rng.choice(NANS, shape), s)


@dataclass(frozen=True)
class TileFormat:
    """A format's side of the array tests: the array family, golden GEMM, host anchors,
    random scale codes ``(rng, shape, spread, nan)`` and the spreads to draw from."""

    family: ArrayFamily
    gemm: Callable
    anchors: Callable
    scales: Callable
    spreads: tuple


MX = TileFormat(MXFP4, gemm_mxfp4, tile_anchors, _e8m0_scales, SPREADS)
NV = TileFormat(NVFP4, gemm_nvfp4, nv_tile_anchors, _e4m3_scales, NV_SPREADS)
#: Family name (``MXFP4``, ``NVFP4``; an array's ``FAMILY.name``) -> its format.
FORMATS = {fmt.family.name: fmt for fmt in (MX, NV)}


def random_tile(rng: np.random.Generator, rows: int, cols: int, blocks: int, *,
                spread: int | None = None, nan: float = 0.0, zero: float = 0.0,
                fmt: TileFormat = MX):
    """A random tile of ``blocks`` blocks; scales within about ``spread`` binades (default a
    random one of the format's spreads), each NaN with probability ``nan``; codes uniform, or
    a row of zeros or of the largest magnitude now and then; with ``zero``, each block of A's
    rows and B's columns is all +-0 codes with that probability."""
    spread = int(rng.choice(fmt.spreads)) if spread is None else spread
    k = blocks * fmt.family.block
    a, b = rng.integers(0, 16, (rows, k)), rng.integers(0, 16, (k, cols))
    if rng.random() < 0.3:
        a[rng.integers(rows)] = 7 | 8 * rng.integers(0, 2, k)
    if rng.random() < 0.2:
        b[:, rng.integers(cols)] = 8 * rng.integers(0, 2, k)
    if zero:
        a = np.where(np.repeat(rng.random((rows, blocks)) < zero, fmt.family.block, 1),
                     a & 8, a)
        b = np.where(np.repeat(rng.random((blocks, cols)) < zero, fmt.family.block, 0),
                     b & 8, b)
    return (a, fmt.scales(rng, (rows, blocks), spread, nan), b,
            fmt.scales(rng, (blocks, cols), spread, nan))


def tile_beats(tiles, fmt: TileFormat = MX) -> tuple[list, list, list]:
    """(i_a beats, i_b beats, i_anchor beats) of ``tiles`` back to back."""
    a_beats, b_beats, anchors = [], [], []
    for a, sa, b, sb in tiles:
        a_beats += pack_a(a, sa, fmt.family)
        b_beats += pack_b(b, sb, fmt.family)
        anchors.append(pack_anchors(fmt.anchors(sa, sb), fmt.family))
    return a_beats, b_beats, anchors


def check_tiles(out, tiles, *, rows: int, cols: int, acc_width: int, frac_bits: int,
                what: str, fmt: TileFormat = MX) -> None:
    """Assert that the ``o_c`` payloads ``out`` are golden for every tile, flags included
    (``malformed`` clear, ``last`` on every R-th row); ``what`` (the seed) opens each message."""
    assert len(out) == len(tiles) * rows, f"{what}: {len(out)} o_c beats for {len(tiles)} tiles"
    got = unpack_c(out, cols, acc_width)
    np.testing.assert_array_equal(got["last"], np.arange(len(out)) % rows == rows - 1,
                                  err_msg=f"{what}: o_c last flags")
    for t, (a, sa, b, sb) in enumerate(tiles):
        want = fmt.gemm(a, sa, b, sb, frac_bits=frac_bits)
        rows_t = slice(t * rows, (t + 1) * rows)
        where = f"{what}: tile {t} (K {a.shape[1]}, scales A {sa.tolist()}, B {sb.tolist()})"
        for name in ("acc", "inexact", "nan"):
            np.testing.assert_array_equal(got[name][rows_t], getattr(want, name),
                                          err_msg=f"{where}: {name} differs")
        assert not got["malformed"][rows_t].any(), f"{where}: malformed set"
