"""Host-side packing of :class:`hdl.mx_array.BlockOuterProductArray` tiles: anchors and beats.

The host holds a tile's block scales before it sends any beat, so it computes each output's
anchor (:func:`tile_anchors` for MXFP4, :func:`nv_tile_anchors` for NVFP4) and sends the
R x C anchors as the tile's ``i_anchor`` beat. The packers take the array's family
(:data:`hdl.mx_array.MXFP4`, the default, or :data:`hdl.mx_array.NVFP4`) for the block size
and field widths; offsets come from the layouts of :mod:`hdl.mx_array`, never from magic
numbers.
"""

from __future__ import annotations

import numpy as np

from golden.checks import check_codes
from golden.fp4 import E8M0_NAN
from golden.gemm_nv import e4m3_fields
from hdl.mx_array import MXFP4, ArrayFamily, a_layout, anchor_layout, b_layout, c_layout
from hdl.mx_pe import mx_result_layout


def _anchors(exp_a, nan_a, exp_b, nan_b) -> np.ndarray:
    """(R, C) maxima of ``exp_a[i, j] + exp_b[j, c]`` over the blocks j where neither scale is
    NaN, 0 where every block is NaN (the output is NaN anyway)."""
    sums = np.where(nan_a[:, :, None] | nan_b[None, :, :], -1,
                    exp_a[:, :, None] + exp_b[None, :, :])
    return np.maximum(sums.max(axis=1), 0)


def tile_anchors(a_scales, b_scales) -> np.ndarray:
    """(R, C) MXFP4 anchors of a tile: ``max_j (a_scales[i, j] + b_scales[j, c])`` over the
    blocks whose two E8M0 scales are not NaN, 0 where every block is NaN."""
    sa, sb = (np.asarray(s, dtype=np.int64) for s in (a_scales, b_scales))
    return _anchors(sa, sa == E8M0_NAN, sb, sb == E8M0_NAN)


def nv_tile_anchors(a_scales, b_scales) -> np.ndarray:
    """(R, C) NVFP4 anchors of a tile: ``max_j (max(ea, 1) + max(eb, 1))`` over the blocks
    whose two E4M3 scales are not NaN (ea, eb their exponent fields; a zero scale counts),
    0 where every block is NaN."""
    (_, exp_a, nan_a), (_, exp_b, nan_b) = e4m3_fields(a_scales), e4m3_fields(b_scales)
    return _anchors(exp_a, nan_a, exp_b, nan_b)


def _lanes(values, bits: int, offset: int) -> np.ndarray:
    """(lanes, beats) -> object array of per-beat ints, lane l at offset + bits * l."""
    values = np.asarray(values)
    out = np.zeros(values.shape[1], dtype=object)
    for lane in range(values.shape[0]):
        out += values[lane].astype(object) << (offset + bits * lane)
    return out


def pack_a(a_codes, a_scales, family: ArrayFamily = MXFP4) -> list:
    """An (R, K) A tile and its (R, K/block) scales -> its K ``i_a`` payloads (each beat
    carries its block's scales; ``block_last`` on every block's last beat, ``last`` on beat
    K-1)."""
    a = check_codes(a_codes, "a_codes")
    rows, block = a.shape[0], family.block
    lay = a_layout(rows, family.scale_bits)
    scales = np.repeat(np.asarray(a_scales, dtype=np.int64), block, axis=1)
    beats = (_lanes(a, 4, lay["codes"].offset)
             + _lanes(scales, family.scale_bits, lay["scales"].offset))
    beats[block - 1::block] += 1 << lay["block_last"].offset
    beats[-1] += 1 << lay["last"].offset
    return beats.tolist()


def pack_b(b_codes, b_scales, family: ArrayFamily = MXFP4) -> list:
    """A (K, C) B tile and its (K/block, C) scales -> its K ``i_b`` payloads."""
    b = check_codes(b_codes, "b_codes")
    lay = b_layout(b.shape[1], family.scale_bits)
    scales = np.repeat(np.asarray(b_scales, dtype=np.int64), family.block, axis=0)
    return (_lanes(b.T, 4, lay["codes"].offset)
            + _lanes(scales.T, family.scale_bits, lay["scales"].offset)).tolist()


def pack_anchors(anchors, family: ArrayFamily = MXFP4) -> int:
    """(R, C) anchors -> the tile's ``i_anchor`` payload."""
    anchors = np.asarray(anchors, dtype=np.int64)
    rows, cols = anchors.shape
    bits = family.anchor_bits
    row_bits = anchor_layout(rows, cols, bits).size // rows
    return sum(int(x) << (i * row_bits + bits * j) for (i, j), x in np.ndenumerate(anchors))


def unpack_c(beats, cols: int, acc_width: int) -> dict:
    """``o_c`` payloads -> ``acc`` int64 (n, C), ``inexact``, ``nan``, ``malformed`` bool
    (n, C) and ``last`` bool (n,)."""
    lay, elem = c_layout(cols, acc_width), mx_result_layout(acc_width)
    v = np.array([int(x) for x in beats], dtype=object)
    out = {"acc": np.empty((v.size, cols), dtype=np.int64)}
    out |= {name: np.empty((v.size, cols), dtype=bool)
            for name in ("inexact", "nan", "malformed")}
    for j in range(cols):
        lane = v >> (lay["data"].offset + j * elem.size)
        raw = (lane >> elem["acc"].offset) & ((1 << acc_width) - 1)
        out["acc"][:, j] = np.where(raw >> (acc_width - 1), raw - (1 << acc_width),
                                    raw).astype(np.int64)
        for name in ("inexact", "nan", "malformed"):
            out[name][:, j] = ((lane >> elem[name].offset) & 1).astype(bool)
    out["last"] = ((v >> lay["last"].offset) & 1).astype(bool)
    return out
