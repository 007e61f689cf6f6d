"""Block-scaled FP4 (MXFP4, NVFP4) operands for the training layers (docs/training.md,
"Format shoot-out").

A GEMM operand is quantized in blocks along the GEMM's *reduction* axis, as block-scaled
hardware consumes it, so the same tensor is quantized once per GEMM it feeds: the activations
along their features for Y and along the batch for dW, the weights along their inputs for Y
and along their outputs for dX, dY along its outputs for dX and along the batch for dW.
Quantization is ``golden.mx`` exactly (scales from each block's amax, elements E2M1 by
``rounding``); the GEMM then multiplies the dequantized values in FP32 (NumPy matmul), so what
these runs measure is the formats' rounding, not a hardware accumulation order.

An axis whose length is not a multiple of the block is padded with zeros to the next multiple
(a zero changes no block's amax) and the padding is cut off again.
"""

from __future__ import annotations

import numpy as np

from golden.checks import check_rounding
from golden.fp4 import ROUNDINGS
from golden.mx import MXFP4_BLOCK, NVFP4_BLOCK, quantize_values

#: The block-scaled formats a layer can take as its precision, with their block sizes.
BLOCK_FORMATS = {"mxfp4": MXFP4_BLOCK, "nvfp4": NVFP4_BLOCK}


def _count(stats, key: str, n: int) -> None:
    if stats is not None:
        stats[key] = stats.get(key, 0) + n


def block_quantize(v: np.ndarray, fmt: str, axis: int, *, rounding: str = "nearest",
                   seed: int | None = None, stats: dict | None = None) -> np.ndarray:
    """The values of the 2-D FP32 array ``v`` after quantization to ``fmt`` in blocks along
    ``axis``, as FP32 (MXFP4 values are exact in FP32; an NVFP4 value, code x E4M3 scale x the
    FP32 tensor scale, is rounded once to FP32).

    ``rounding`` ("nearest" or "stochastic" with an integer ``seed``) rounds the elements.
    ``stats``, if given, counts ``fmt_elements`` (elements quantized), ``fmt_saturated``
    (elements whose magnitude exceeded the block's largest value, 6 x scale, and were clamped
    to it) and ``fmt_underflow`` (nonzero elements that became 0). ValueError for an unknown
    format, rounding or seed (golden.checks.check_rounding) or a non-2-D input.
    """
    if fmt not in BLOCK_FORMATS:
        raise ValueError(f"fmt must be one of {tuple(BLOCK_FORMATS)}, not {fmt!r}")
    seed = check_rounding(rounding, seed, ROUNDINGS)
    v = np.asarray(v, dtype=np.float32)
    if v.ndim != 2 or axis not in (0, 1):
        raise ValueError(f"block_quantize takes a 2-D array and axis 0 or 1, not shape "
                         f"{v.shape} and axis {axis!r}")
    n = v.shape[axis]
    pad = (-n) % BLOCK_FORMATS[fmt]
    if pad:
        v = np.pad(v, [(0, pad) if a == axis else (0, 0) for a in range(2)])
    # mxfp4_quantize / nvfp4_quantize, then the matching dequantize as FP32, in one pass
    _, out, saturated, underflow = quantize_values(v, fmt, axis, rounding, seed)
    if stats is not None:
        _count(stats, "fmt_elements", n * v.shape[1 - axis])
        _count(stats, "fmt_saturated", saturated)
        _count(stats, "fmt_underflow", underflow)
    return out[:, :n] if axis == 1 else out[:n]
