"""How a training step's operations become stream beats of :mod:`hdl.training_units`.

Shared by every engine (native C++ loop, cocotb): each function turns NumPy operands into
packed beats -- ``uint32`` words, least significant word first, one row per beat, the bit
positions taken from the Amaranth layouts -- or packed result beats back into arrays. Nothing
here computes a result: it only places codes and reads fields.

A GEMM ``(M, K) @ (K, N)`` on an R x C array runs as ``ceil(M/R) * ceil(N/C)`` tiles in
row-major tile order, back to back in one stream; edge tiles are padded with code 0, which is
zero in every format (K = 0 becomes one beat of zeros). The gradient unit and the read-out
take the tensor flattened in C order, ``C`` elements per beat, the last beat padded with
zeros (+0.0 for gradients: no draw of a real element changes, amax and saturation counts do
not move).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hdl.array import a_layout, b_layout, c_layout, result_layout
from hdl.gradient_unit import codes_out_layout, grad_in_layout
from hdl.modes import a_format_code, b_format_code
from hdl.r4_quantizer import R4_OUT_LAYOUT
from hdl.readout import READOUT_OUT_LAYOUT, readout_lanes_in_layout

__all__ = ["words_for", "put_field", "get_field", "GemmPlan", "plan_gemm", "gemm_beats",
           "gemm_results", "grad_beats", "grad_results", "readout_beats", "readout_results"]


def words_for(layout) -> int:
    """uint32 words per beat of a payload layout."""
    return -(-layout.size // 32)


def put_field(buf: np.ndarray, offset: int, width: int, values) -> None:
    """OR ``values`` (one integer per beat, two's complement) into bits offset..offset+width-1."""
    v = np.asarray(values).astype(np.int64).view(np.uint64)
    if width < 64:
        v = v & np.uint64((1 << width) - 1)
    while width > 0:
        word, shift = divmod(offset, 32)
        take = min(32 - shift, width)
        part = (v & np.uint64((1 << take) - 1)) << np.uint64(shift)
        buf[:, word] |= part.astype(np.uint32)
        v = v >> np.uint64(take)
        offset, width = offset + take, width - take


def get_field(buf: np.ndarray, offset: int, width: int, signed: bool = False) -> np.ndarray:
    """Bits offset..offset+width-1 of every beat as int64 (sign-extended if ``signed``)."""
    out = np.zeros(buf.shape[0], dtype=np.uint64)
    done = 0
    while done < width:
        word, shift = divmod(offset + done, 32)
        take = min(32 - shift, width - done)
        part = (buf[:, word].astype(np.uint64) >> np.uint64(shift)) & np.uint64((1 << take) - 1)
        out |= part << np.uint64(done)
        done += take
    res = out.view(np.int64)
    if signed and width < 64:
        res = np.where(res >= 1 << (width - 1), res - (1 << width), res)
    return res


def _put_codes(buf, offset, codes) -> None:
    """4-bit codes (beats, lanes) at ``offset + 4 * lane``, up to 16 lanes per 64-bit field."""
    lanes = codes.shape[1]
    for first in range(0, lanes, 16):
        chunk = codes[:, first:first + 16].astype(np.uint64)
        packed = np.zeros(codes.shape[0], dtype=np.uint64)
        for lane in range(chunk.shape[1]):
            packed |= chunk[:, lane] << np.uint64(4 * lane)
        put_field(buf, offset + 4 * first, 4 * chunk.shape[1], packed.view(np.int64))


class GemmPlan(NamedTuple):
    """The tile grid of one GEMM on an R x C array."""

    m: int
    n: int
    k: int            # beats per tile (K, at least 1)
    rows: int
    cols: int
    tiles_m: int
    tiles_n: int

    @property
    def tiles(self) -> int:
        return self.tiles_m * self.tiles_n

    def tile_of(self, i: int, j: int) -> tuple[int, int, int]:
        """(tile number in stream order, tile row, tile column) of output element (i, j)."""
        ti, tj = i // self.rows, j // self.cols
        return ti * self.tiles_n + tj, ti, tj


def plan_gemm(m: int, k: int, n: int, rows: int, cols: int) -> GemmPlan:
    return GemmPlan(m, n, max(k, 1), rows, cols, -(-m // rows), -(-n // cols))


def gemm_beats(a: np.ndarray, b: np.ndarray, plan: GemmPlan, *, a_format: str, b_format: str,
               phase: int) -> tuple[np.ndarray, np.ndarray]:
    """``i_a`` and ``i_b`` beats of all tiles, in stream order (``plan.tiles * plan.k`` each)."""
    r, c, k = plan.rows, plan.cols, plan.k
    a_pad = np.zeros((plan.tiles_m * r, k), dtype=np.uint8)
    a_pad[:plan.m, :a.shape[1]] = a
    b_pad = np.zeros((k, plan.tiles_n * c), dtype=np.uint8)
    b_pad[:b.shape[0], :plan.n] = b
    # Beat k of tile (ti, tj): column k of A's row block ti, row k of B's column block tj.
    a_cols = a_pad.reshape(plan.tiles_m, r, k).transpose(0, 2, 1)           # (TM, K, R)
    b_rows = b_pad.reshape(k, plan.tiles_n, c).transpose(1, 0, 2)           # (TN, K, C)
    a_seq = np.repeat(a_cols, plan.tiles_n, axis=0).reshape(-1, r)
    b_seq = np.tile(b_rows, (plan.tiles_m, 1, 1)).reshape(-1, c)
    la, lb = a_layout(r), b_layout(c)
    a_words = np.zeros((a_seq.shape[0], words_for(la)), dtype=np.uint32)
    _put_codes(a_words, la["data"].offset, a_seq)
    put_field(a_words, la["format"].offset, la["format"].width,
              np.full(a_seq.shape[0], a_format_code(a_format)))
    put_field(a_words, la["last"].offset, 1, np.arange(a_seq.shape[0]) % k == k - 1)
    b_words = np.zeros((b_seq.shape[0], words_for(lb)), dtype=np.uint32)
    _put_codes(b_words, lb["data"].offset, b_seq)
    put_field(b_words, lb["format"].offset, lb["format"].width,
              np.full(b_seq.shape[0], b_format_code(b_format)))
    put_field(b_words, lb["phase"].offset, 1, np.full(b_seq.shape[0], phase))
    return a_words, b_words


def gemm_results(beats: np.ndarray, plan: GemmPlan, acc_width: int):
    """``o_c`` beats -> (acc int64 (M, N), overflow bool (M, N)), padding dropped.

    Raises ``ValueError`` naming the tile whose ``last`` flag is out of place.
    """
    r, c = plan.rows, plan.cols
    lay, elem = c_layout(c, acc_width), result_layout(acc_width)
    last = get_field(beats, lay["last"].offset, 1).astype(bool)
    expect = np.arange(beats.shape[0]) % r == r - 1
    if not np.array_equal(last, expect):
        beat = int(np.nonzero(last != expect)[0][0])
        raise ValueError(f"o_c: the 'last' flag of tile {beat // r} is out of place "
                         f"(result row {beat % r})")
    acc = np.empty((beats.shape[0], c), dtype=np.int64)
    ovf = np.empty((beats.shape[0], c), dtype=bool)
    for j in range(c):
        base = lay["data"].offset + j * elem.size
        acc[:, j] = get_field(beats, base + elem["acc"].offset, acc_width, signed=True)
        ovf[:, j] = get_field(beats, base + elem["overflow"].offset, 1).astype(bool)

    def grid(x):
        x = x.reshape(plan.tiles_m, plan.tiles_n, r, c).transpose(0, 2, 1, 3)
        return x.reshape(plan.tiles_m * r, plan.tiles_n * c)[:plan.m, :plan.n]

    return grid(acc), grid(ovf)


def _lanes_of(flat: np.ndarray, lanes: int, fill=0) -> np.ndarray:
    """A flat tensor as (beats, lanes), the last beat padded with ``fill``."""
    beats = -(-flat.size // lanes)
    out = np.full(beats * lanes, fill, dtype=flat.dtype)
    out[:flat.size] = flat
    return out.reshape(beats, lanes)


def grad_beats(fp16: np.ndarray, lanes: int) -> np.ndarray:
    """``i_grad`` beats of an FP16 tensor in C order, ``lanes`` elements per beat."""
    bits = _lanes_of(np.ascontiguousarray(fp16).view(np.uint16).reshape(-1), lanes)
    lay = grad_in_layout(lanes)
    words = np.zeros((bits.shape[0], words_for(lay)), dtype=np.uint32)
    for k in range(lanes):
        put_field(words, 16 * k, 16, bits[:, k])
    return words


def grad_results(beats: np.ndarray, shape: tuple, lanes: int, phase: int):
    """``o_codes`` beats -> (codes uint8, invalid bool, saturated bool) of ``shape``.

    Raises ``ValueError`` if a beat carries another phase than the one it was quantized in.
    """
    lay = codes_out_layout(lanes)
    got = get_field(beats, lay["phase"].offset, 1)
    if beats.shape[0] and (got != phase).any():
        raise ValueError(f"o_codes: beat {int(np.nonzero(got != phase)[0][0])} carries phase "
                         f"{int(got[got != phase][0])}, the tensor was quantized in phase {phase}")
    n = int(np.prod(shape))
    out = []
    for field, dtype in (("code", np.uint8), ("invalid", bool), ("saturated", bool)):
        cols = [get_field(beats, lay["lanes"].offset + k * R4_OUT_LAYOUT.size
                          + R4_OUT_LAYOUT[field].offset, R4_OUT_LAYOUT[field].width)
                for k in range(lanes)]
        flat = np.stack(cols, axis=1).reshape(-1)[:n] if cols else np.zeros(0)
        out.append(flat.astype(dtype).reshape(shape))
    return tuple(out)


def readout_beats(acc: np.ndarray, lanes: int, acc_width: int) -> np.ndarray:
    """``i_acc`` beats of an accumulator tensor in C order, ``lanes`` per beat."""
    vals = _lanes_of(np.ascontiguousarray(acc, dtype=np.int64).reshape(-1), lanes)
    lay = readout_lanes_in_layout(acc_width, lanes)
    words = np.zeros((vals.shape[0], words_for(lay)), dtype=np.uint32)
    for k in range(lanes):
        put_field(words, k * acc_width, acc_width, vals[:, k])
    return words


def readout_results(beats: np.ndarray, shape: tuple, lanes: int):
    """``o_fp16`` beats -> (values float16, overflow bool) of ``shape``."""
    n = int(np.prod(shape))
    size = READOUT_OUT_LAYOUT.size
    vals = np.stack([get_field(beats, k * size + READOUT_OUT_LAYOUT["value"].offset, 16)
                     for k in range(lanes)], axis=1).reshape(-1)[:n]
    ovf = np.stack([get_field(beats, k * size + READOUT_OUT_LAYOUT["overflow"].offset, 1)
                    for k in range(lanes)], axis=1).reshape(-1)[:n]
    return (vals.astype(np.uint16).view(np.float16).reshape(shape),
            ovf.astype(bool).reshape(shape))
