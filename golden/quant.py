"""Host-side quantizers of docs/numerics.md section 7: SAWB weights, PACT activations, input pixels.

These run on the host in FP32 (v1 keeps them off the RTL) and hand 4-bit codes plus one FP32
scale per tensor to the GEMM. Every rounding here is named: :func:`round_half_even` is the
only rounding used, so no code path depends on what ``np.round`` happens to do.

NaN or Inf reaching any quantizer raises :class:`FloatingPointError`: a quantizer that clipped
it would hide a diverged run behind plausible codes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from golden.checks import check_finite  # noqa: F401  (quantizers and their callers use it)

#: SAWB clip coefficients (c1, c2) for 4 bits (Choi et al., as used by Sun et al.).
SAWB_C1 = 12.68
SAWB_C2 = -12.80
#: Symmetric INT4 weight range: the quantizer never emits -8, so zero is the centre.
INT4_QMAX = 7
#: UINT4 activation range.
UINT4_QMAX = 15
#: The article's signed view of an input pixel code: value = code - PIXEL_OFFSET.
PIXEL_OFFSET = 8


def round_half_even(x, out=None) -> np.ndarray:
    """Round to the nearest integer, ties to even (IEEE roundTiesToEven), as float."""
    return np.rint(x, out=out)


# --------------------------------------------------------------------------- SAWB


class SawbResult(NamedTuple):
    """INT4 weight codes and the FP32 scale: weight ~= int4_decode(codes) * scale."""

    codes: np.ndarray   # uint8 INT4 bit patterns, values -7..7
    scale: float        # clip / 7
    clip: float


def _mean(x: np.ndarray) -> np.floating:
    """``np.mean(x)`` of a float64 array, bit for bit (the same pairwise sum over all elements,
    divided by the count) without its Python-level set-up."""
    return np.add.reduce(x, axis=None) / x.size


def _sawb_clip64(arr: np.ndarray, work: np.ndarray | None = None) -> float:
    """The clip from float64 weights; ``work`` (same shape) is scratch space it may overwrite."""
    if arr.size == 0:
        raise ValueError("SAWB needs a non-empty weight tensor")
    work = np.empty_like(arr) if work is None else work
    mean_sq = _mean(np.multiply(arr, arr, out=work))
    # NaN or +-Inf anywhere makes the mean of squares non-finite (float32 weights cannot
    # overflow it in float64), so one scalar check replaces a pass over the tensor.
    if not np.isfinite(mean_sq):
        raise FloatingPointError("SAWB input holds NaN or Inf")
    a = SAWB_C1 * np.sqrt(mean_sq) + SAWB_C2 * _mean(np.abs(arr, out=work))
    if a <= 0:
        a = float(np.abs(arr).max())
    return float(a) if a > 0 else 1.0


def sawb_clip(w) -> float:
    """SAWB clip a = c1 * sqrt(E[w^2]) + c2 * E[|w|], falling back to max|w| when a <= 0.

    Computed in float64. An all-zero tensor has no meaningful clip; it gets 1.0 so that its
    codes are all zero and the scale stays finite.
    """
    return _sawb_clip64(np.asarray(w, dtype=np.float64))


def sawb_quantize(w) -> SawbResult:
    """Weights -> INT4 codes with the SAWB clip: clamp(round_half_even(w / scale), -7, 7).

    The backward pass is the straight-through estimator: the gradient with respect to the
    quantized weight is applied to the FP32 master weight unchanged.
    """
    arr = np.asarray(w, dtype=np.float64)
    q = np.empty_like(arr)
    clip = _sawb_clip64(arr, q)
    scale = clip / INT4_QMAX
    np.divide(arr, scale, out=q)
    # Clamp to -7..7 (np.clip's minimum-then-maximum, without its slower dispatch).
    np.minimum(round_half_even(q, out=q), INT4_QMAX, out=q)
    np.maximum(q, -INT4_QMAX, out=q)
    # Two's-complement 4-bit patterns of -7..7 (what golden.formats.int4_encode returns).
    codes = q.astype(np.int8).view(np.uint8)
    codes &= np.uint8(0xF)
    return SawbResult(codes, float(scale), float(clip))


# --------------------------------------------------------------------------- PACT


class PactResult(NamedTuple):
    """UINT4 activation codes and the FP32 scale: activation ~= codes * scale."""

    codes: np.ndarray   # uint8 UINT4 codes 0..15
    scale: float        # alpha / 15


def _check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = float("nan")
    if isinstance(alpha, (str, bytes)) or not np.isfinite(a) or a <= 0:
        raise ValueError(f"PACT alpha must be a positive finite number, not {alpha!r}")
    return a


def pact_quantize(x, alpha) -> PactResult:
    """PACT forward: code = round_half_even(clip(x, 0, alpha) * 15 / alpha)."""
    a = _check_alpha(alpha)
    arr = check_finite(x, "PACT input")
    q = np.maximum(arr, 0.0)                  # np.clip(arr, 0.0, a), without its slow dispatch
    np.minimum(q, a, out=q)
    np.multiply(q, UINT4_QMAX / a, out=q)
    return PactResult(round_half_even(q, out=q).astype(np.uint8), a / UINT4_QMAX)


def pact_backward(x, alpha, grad) -> tuple[np.ndarray, float]:
    """PACT backward (straight-through inside the clip range).

    Returns ``(dx, dalpha)``: dL/dx passes where 0 <= x < alpha and is zero elsewhere;
    dL/dalpha is the sum of the incoming gradient where x >= alpha. The L2 term on alpha is
    the optimizer's (it is a property of the loss, not of the quantizer).
    """
    a = _check_alpha(alpha)
    arr = np.asarray(x)
    g = check_finite(grad, "PACT gradient")
    if arr.shape != g.shape:
        raise ValueError(f"PACT gradient shape {g.shape} differs from its input's {arr.shape}")
    clipped = arr >= a
    inside = np.greater(arr >= 0, clipped)            # 0 <= x and not x >= alpha
    if g.dtype == np.float32:
        # np.where(inside, g, 0) without its per-element branches: AND the bit patterns with
        # all-ones where the gradient passes, zero (+0.0) elsewhere.
        keep = inside.view(np.int8).astype(np.int32)
        np.negative(keep, out=keep)
        keep &= g.view(np.int32)
        dx = keep.view(np.float32)
    else:
        dx = np.where(inside, g, 0).astype(g.dtype)
    # Nothing clipped: the (slow, masked) float64 sum would be +0.0.
    dalpha = float(np.sum(g, where=clipped, dtype=np.float64)) if clipped.any() else 0.0
    return dx, dalpha


# --------------------------------------------------------------------------- input pixels


def pixel_quantize(x) -> np.ndarray:
    """Pixels in [0, 1] -> UINT4 codes round_half_even(15 x); the scale is 1/15.

    The article that introduced this work writes the same codes in a signed view, code - 8,
    so 0 -> -8, 1 -> 7 and 0.3 -> 4.5 -> 4 (ties to even) -> -4, its "-3.5 -> -4":

    >>> codes = pixel_quantize(np.array([0.0, 1.0, 0.3]))
    >>> codes.tolist()
    [0, 15, 4]
    >>> (codes.astype(int) - PIXEL_OFFSET).tolist()
    [-8, 7, -4]

    The GEMM consumes the unsigned code (the offset is a view, not a different operand).
    """
    arr = check_finite(x, "pixel input").astype(np.float64)
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"pixels must lie in [0, 1], found {arr.min()}..{arr.max()}")
    return round_half_even(arr * UINT4_QMAX).astype(np.uint8)
