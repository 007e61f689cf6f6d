"""nn.layers.Conv2d forward against a direct nested-loop convolution written here.

The layer computes convolution as im2col onto the GEMM; these tests recompute it the
textbook way (one output element at a time, zero padding by bounds checks, weights read as
``w.reshape(c_out, c_in, k, k)``), so a wrong patch order, stride or padding in the im2col
shows up as a mismatch.

- 4-bit: the UINT4 activation codes convolved with the SAWB INT4 weight codes in Python
  integers, read out to FP16 by golden.gemm.readout, times the FP32 scale, plus the bias.
  Equality: every step is either exact integer arithmetic or one defined rounding.
- FP32: with integer-valued inputs every product and partial sum is an integer below 2^24,
  exact in FP32 in any summation order, so equality again. With random inputs the layer's
  FP32 GEMM may sum in any order (BLAS); the reference is the correctly rounded exact sum
  (math.fsum of float64 products, which are exact for FP32 operands), and the tolerance is
  the standard bound for a K-term FP32 dot product plus the bias add:
  ``|error| <= (K + 1) * 2^-24 * (sum |x_i w_i| + |b|)`` (Higham, gamma_{K+1}).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from golden.backend import NumpyBackend, TableBackend
from golden.formats import int4_decode
from golden.gemm import readout
from nn import Conv2d, QAct, QuantConfig, StepContext
from golden.quant import sawb_quantize

#: (c_in, c_out, k, stride, pad, H, W): strides 1..3, paddings 0..2, non-square inputs, a
#: kernel as large as the padded input, 1x1 and even kernels.
GEOMETRIES = [
    (2, 3, 3, 1, 1, 6, 5),
    (3, 2, 3, 2, 1, 7, 6),
    (2, 2, 3, 3, 2, 8, 5),
    (1, 4, 2, 2, 0, 5, 7),
    (4, 3, 3, 2, 0, 7, 7),
    (3, 2, 1, 2, 0, 5, 4),
    (2, 2, 5, 1, 2, 3, 4),
    (2, 1, 4, 3, 1, 9, 6),
    (8, 2, 3, 2, 1, 6, 6),
]


def conv_loops(x, w, stride, pad, dot):
    """out[n, o, i, j] = dot of the (c, di, dj) products x[n, c, r, q] * w[o, c, di, dj] with
    r = i * stride + di - pad, q = j * stride + dj - pad, skipping positions outside the
    input (zero padding). ``x`` and ``w`` are nested lists of Python numbers; ``dot`` sums a
    list of products."""
    n_b, c_in, h, wd = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    c_out, k = len(w), len(w[0][0])
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = [[[[None] * wo for _ in range(ho)] for _ in range(c_out)] for _ in range(n_b)]
    for n in range(n_b):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    terms = []
                    for c in range(c_in):
                        for di in range(k):
                            r = i * stride + di - pad
                            if not 0 <= r < h:
                                continue
                            for dj in range(k):
                                q = j * stride + dj - pad
                                if 0 <= q < wd:
                                    terms.append(x[n][c][r][q] * w[o][c][di][dj])
                    out[n][o][i][j] = dot(terms)
    return out


def _ctx(backend):
    return StepContext(backend, QuantConfig(rounding="nearest"), run_seed=1)


def _layer(geometry, precision, rng):
    c_in, c_out, k, stride, pad, h, w = geometry
    layer = Conv2d("conv", c_in, c_out, k, stride=stride, pad=pad, precision=precision, rng=rng)
    layer.params["b"] = rng.standard_normal(c_out).astype(np.float32)
    return layer


@pytest.mark.parametrize("backend", [TableBackend, NumpyBackend])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_q4_conv_forward_is_the_integer_convolution_of_the_codes(geometry, backend, seed):
    rng = np.random.default_rng(seed)
    c_in, c_out, k, stride, pad, h, w = geometry
    layer = _layer(geometry, "q4", rng)
    # Output channel 0 at the largest weight magnitude (INT4 code 7): its accumulators reach
    # past 2048 where K is large, so the FP16 read-out rounds.
    layer.params["w"][0] = np.abs(layer.params["w"]).max()
    x = QAct(rng.integers(0, 16, (2, c_in, h, w)).astype(np.uint8), 0.0625)
    y = layer.forward(x, _ctx(backend()))
    q = sawb_quantize(layer.params["w"])
    w_int = int4_decode(q.codes).reshape(c_out, c_in, k, k).astype(int).tolist()
    acc = np.array(conv_loops(x.codes.astype(int).tolist(), w_int, stride, pad, sum),
                   dtype=np.int64)
    if c_in * k * k >= 72:
        assert acc.max() > 2048
    want = (readout(acc, exp_offset=0).astype(np.float32) * np.float32(x.scale * q.scale)
            + layer.params["b"][None, :, None, None])
    assert y.shape == acc.shape and y.dtype == np.float32
    assert np.array_equal(y.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fp32_conv_forward_on_integer_values_is_exact(geometry, seed):
    rng = np.random.default_rng(seed)
    c_in, c_out, k, stride, pad, h, w = geometry
    layer = _layer(geometry, "fp32", rng)
    layer.params["w"] = rng.integers(-50, 51, layer.params["w"].shape).astype(np.float32)
    layer.params["b"] = rng.integers(-1000, 1001, c_out).astype(np.float32)
    x = rng.integers(-50, 51, (2, c_in, h, w)).astype(np.float32)
    y = layer.forward(x, _ctx(TableBackend()))
    w4 = layer.params["w"].reshape(c_out, c_in, k, k).astype(int).tolist()
    ref = np.array(conv_loops(x.astype(int).tolist(), w4, stride, pad, sum), dtype=np.int64)
    ref += layer.params["b"].astype(np.int64)[None, :, None, None]
    assert np.abs(ref).max() < 2 ** 24
    assert y.shape == ref.shape and np.array_equal(y, ref.astype(np.float32))


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fp32_conv_forward_within_the_summation_order_bound(geometry, seed):
    rng = np.random.default_rng(seed)
    c_in, c_out, k, stride, pad, h, w = geometry
    layer = _layer(geometry, "fp32", rng)
    x = rng.standard_normal((2, c_in, h, w)).astype(np.float32)
    y = layer.forward(x, _ctx(TableBackend()))
    xs = x.astype(np.float64).tolist()
    w4 = layer.params["w"].reshape(c_out, c_in, k, k).astype(np.float64)
    b = layer.params["b"].astype(np.float64)[None, :, None, None]
    ref = np.array(conv_loops(xs, w4.tolist(), stride, pad, math.fsum)) + b
    mag = np.array(conv_loops(np.abs(x).astype(np.float64).tolist(), np.abs(w4).tolist(),
                              stride, pad, math.fsum)) + np.abs(b)
    bound = (c_in * k * k + 1) * 2.0 ** -24 * mag
    assert y.shape == ref.shape
    assert np.all(np.abs(y - ref) <= bound)
