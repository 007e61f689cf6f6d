"""Host-side packing of :class:`hdl.array.OuterProductArray` stream payloads, in bulk.

Testbenches, the benchmark and the hardware-in-the-loop driver all turn a GEMM into beats the
same way, so it lives next to the layouts it reads: offsets come from
:func:`hdl.array.a_layout` & co., never from magic numbers, and all packing is vectorised over
beats (NumPy object arrays of Python ints) so no per-cycle Python work is left for a
simulation loop beyond assigning one integer.

A GEMM ``(M, K) @ (K, N)`` runs as ``ceil(M/R) * ceil(N/C)`` tiles in row-major tile order;
edge tiles are padded with code 0, which is zero in every format.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from golden.formats import check_codes, check_phase
from hdl.array import a_layout, b_layout, c_layout, result_layout
from hdl.modes import a_format_code, b_format_code


class GemmBeats(NamedTuple):
    """The beats of one GEMM, ready to drive: one Python int per beat."""

    a: list        # i_a payloads, K beats per tile
    b: list        # i_b payloads, K beats per tile
    tiles: int     # number of tiles (each drains ``rows`` o_c beats)


def _pack_codes(codes: np.ndarray, offset: int) -> np.ndarray:
    """(lanes, beats) codes -> object array of per-beat ints with lane l at offset + 4 l."""
    out = np.zeros(codes.shape[1], dtype=object)
    for lane in range(codes.shape[0]):
        out += codes[lane].astype(object) << (offset + 4 * lane)
    return out


def pack_a(a_tile, a_format: str) -> list:
    """An (R, K) A tile -> its K ``i_a`` payloads (``last`` on beat K-1)."""
    a = check_codes(a_tile, "a_tile")
    rows, k = a.shape
    lay = a_layout(rows)
    beats = _pack_codes(a, lay["data"].offset)
    beats += a_format_code(a_format) << lay["format"].offset
    beats[-1] += 1 << lay["last"].offset
    return beats.tolist()


def pack_b(b_tile, b_format: str, phase: int = 0) -> list:
    """A (K, C) B tile -> its K ``i_b`` payloads."""
    b = check_codes(b_tile, "b_tile")
    k, cols = b.shape
    check_phase(phase)
    lay = b_layout(cols)
    beats = _pack_codes(b.T, lay["data"].offset)
    beats += (b_format_code(b_format) << lay["format"].offset) | (phase << lay["phase"].offset)
    return beats.tolist()


def unpack_c(beats, cols: int, acc_width: int):
    """``o_c`` payloads -> (acc int64 (n, C), overflow bool (n, C), last bool (n,))."""
    lay = c_layout(cols, acc_width)
    elem = result_layout(acc_width)
    v = np.array([int(x) for x in beats], dtype=object)
    stride = elem.size
    base = lay["data"].offset
    acc = np.empty((v.size, cols), dtype=np.int64)
    ovf = np.empty((v.size, cols), dtype=bool)
    mask = (1 << acc_width) - 1
    for j in range(cols):
        field = v >> (base + j * stride)
        raw = (field >> elem["acc"].offset) & mask
        signed_raw = np.where(raw >= 1 << (acc_width - 1), raw - (1 << acc_width), raw)
        acc[:, j] = signed_raw.astype(np.int64)
        ovf[:, j] = ((field >> elem["overflow"].offset) & 1).astype(bool)
    last = ((v >> lay["last"].offset) & 1).astype(bool)
    return acc, ovf, last


def _tiles(m: int, n: int, rows: int, cols: int):
    for ti in range(0, m, rows):
        for tj in range(0, n, cols):
            yield ti, tj


def gemm_beats(a_codes, b_codes, *, rows: int, cols: int, a_format: str, b_format: str,
               phase: int = 0) -> GemmBeats:
    """All beats of ``A @ B`` on an R x C array, tile after tile."""
    a = check_codes(a_codes, "a_codes")
    b = check_codes(b_codes, "b_codes")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2 or k < 1:
        raise ValueError(f"inner dimensions must agree and be >= 1: A is {a.shape}, B is {b.shape}")
    a_pad = np.zeros((-(-m // rows) * rows, k), dtype=np.uint8)
    a_pad[:m] = a
    b_pad = np.zeros((k, -(-n // cols) * cols), dtype=np.uint8)
    b_pad[:, :n] = b
    a_beats, b_beats, tiles = [], [], 0
    a_cache = {}
    for ti, tj in _tiles(m, n, rows, cols):
        if ti not in a_cache:
            a_cache[ti] = pack_a(a_pad[ti:ti + rows], a_format)
        a_beats += a_cache[ti]
        b_beats += pack_b(b_pad[:, tj:tj + cols], b_format, phase)
        tiles += 1
    return GemmBeats(a_beats, b_beats, tiles)


def assemble_c(beats, m: int, n: int, *, rows: int, cols: int, acc_width: int):
    """The ``o_c`` beats of a whole GEMM -> (acc (M, N), overflow (M, N)), padding dropped.

    Raises ``ValueError`` if the ``last`` flags are not on every R-th beat.
    """
    acc, ovf, last = unpack_c(beats, cols, acc_width)
    tiles = list(_tiles(m, n, rows, cols))
    if acc.shape[0] != len(tiles) * rows:
        raise ValueError(f"expected {len(tiles) * rows} o_c beats, got {acc.shape[0]}")
    expect_last = np.arange(acc.shape[0]) % rows == rows - 1
    if not np.array_equal(last, expect_last):
        wrong = np.nonzero(last != expect_last)[0]
        raise ValueError(f"o_c last flags out of place at beats {wrong}")
    full_acc = np.zeros((-(-m // rows) * rows, -(-n // cols) * cols), dtype=np.int64)
    full_ovf = np.zeros(full_acc.shape, dtype=bool)
    for t, (ti, tj) in enumerate(tiles):
        full_acc[ti:ti + rows, tj:tj + cols] = acc[t * rows:(t + 1) * rows]
        full_ovf[ti:ti + rows, tj:tj + cols] = ovf[t * rows:(t + 1) * rows]
    return full_acc[:m, :n], full_ovf[:m, :n]
