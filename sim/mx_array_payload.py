"""Host-side packing of :class:`hdl.mx_array.MxOuterProductArray` tiles: anchors and beats.

The host holds a tile's block scales before it sends any beat, so it computes each output's
anchor (:func:`tile_anchors`) and sends the R x C anchors as the tile's ``i_anchor`` beat.
Offsets come from the layouts of :mod:`hdl.mx_array`, never from magic numbers.
"""

from __future__ import annotations

import numpy as np

from golden.checks import check_codes
from golden.fp4 import E8M0_NAN
from golden.mx import MXFP4_BLOCK
from hdl.mx_array import a_layout, anchor_layout, b_layout, c_layout
from hdl.mx_pe import mx_result_layout


def tile_anchors(a_scales, b_scales) -> np.ndarray:
    """(R, C) anchors of a tile: ``max_j (a_scales[i, j] + b_scales[j, c])`` over the blocks
    whose two scales are not NaN, 0 where every block is NaN (the output is NaN anyway)."""
    sa = np.asarray(a_scales, dtype=np.int64)[:, :, None]
    sb = np.asarray(b_scales, dtype=np.int64)[None, :, :]
    sums = np.where((sa == E8M0_NAN) | (sb == E8M0_NAN), -1, sa + sb)
    return np.maximum(sums.max(axis=1), 0)


def _lanes(values, bits: int, offset: int) -> np.ndarray:
    """(lanes, beats) -> object array of per-beat ints, lane l at offset + bits * l."""
    values = np.asarray(values)
    out = np.zeros(values.shape[1], dtype=object)
    for lane in range(values.shape[0]):
        out += values[lane].astype(object) << (offset + bits * lane)
    return out


def pack_a(a_codes, a_scales) -> list:
    """An (R, K) A tile and its (R, K/32) scales -> its K ``i_a`` payloads (each beat carries
    its block's scales; ``block_last`` on every 32nd beat, ``last`` on beat K-1)."""
    a = check_codes(a_codes, "a_codes")
    rows, k = a.shape
    lay = a_layout(rows)
    scales = np.repeat(np.asarray(a_scales, dtype=np.int64), MXFP4_BLOCK, axis=1)
    beats = _lanes(a, 4, lay["codes"].offset) + _lanes(scales, 8, lay["scales"].offset)
    beats[MXFP4_BLOCK - 1::MXFP4_BLOCK] += 1 << lay["block_last"].offset
    beats[-1] += 1 << lay["last"].offset
    return beats.tolist()


def pack_b(b_codes, b_scales) -> list:
    """A (K, C) B tile and its (K/32, C) scales -> its K ``i_b`` payloads."""
    b = check_codes(b_codes, "b_codes")
    lay = b_layout(b.shape[1])
    scales = np.repeat(np.asarray(b_scales, dtype=np.int64), MXFP4_BLOCK, axis=0)
    return (_lanes(b.T, 4, lay["codes"].offset)
            + _lanes(scales.T, 8, lay["scales"].offset)).tolist()


def pack_anchors(anchors) -> int:
    """(R, C) anchors -> the tile's ``i_anchor`` payload."""
    anchors = np.asarray(anchors, dtype=np.int64)
    rows, cols = anchors.shape
    lay = anchor_layout(rows, cols)
    row_bits = lay.size // rows
    return sum(int(x) << (i * row_bits + 9 * j) for (i, j), x in np.ndenumerate(anchors))


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
