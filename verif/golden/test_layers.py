"""nn and golden.backend: FP32 gradients, bad input, and backend equivalence."""

from __future__ import annotations

import re

import numpy as np
import pytest

from golden.backend import NumpyBackend, TableBackend
from golden.fp16 import fp16_from_f32, round_f32_to_fp16
from experiments.data import load_digits_split
from golden.checks import SCALE_EXP_MAX, SCALE_EXP_MIN
from golden.formats import grad_scale_exp, r4_decode, r4_quantize, scale_exp_of_amax
from golden.gemm import AccumulatorBoundError, gemm, gemm_fp16, readout
from nn import (Conv2d, Flatten, Linear, Pact, PixelQuant, QAct, QuantConfig, Relu,
                           Sequential, Sgd, StepContext, softmax_xent)
from golden.quant import sawb_quantize
from experiments.train import train_run

ALL_FP16 = np.arange(65536, dtype=np.uint16).view(np.float16)


def _ctx(backend=None, **cfg):
    return StepContext(backend or TableBackend(), QuantConfig(**cfg), run_seed=5)


def _gradcheck(layer, x, rng, eps=1e-6):
    """Compare analytic parameter and input gradients of sum(y * r) with central differences."""
    ctx = _ctx()
    for k in layer.params:
        layer.params[k] = layer.params[k].astype(np.float64)
    y = layer.forward(x, ctx)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r, ctx)

    def loss():
        return float(np.sum(layer.forward(x, ctx) * r))

    def numeric(arr, idx):
        """The central difference of the loss in ``arr[idx]`` (restored afterwards)."""
        old = arr[idx]
        arr[idx] = old + eps
        up = loss()
        arr[idx] = old - eps
        down = loss()
        arr[idx] = old
        return pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)

    for k, p in layer.params.items():
        for idx in list(np.ndindex(p.shape))[:12]:
            assert layer.grads[k][idx] == numeric(p, idx)
    for idx in list(np.ndindex(x.shape))[::7][:12]:
        assert dx[idx] == numeric(x, idx)


def test_fp32_linear_gradients(seed):
    rng = np.random.default_rng(seed)
    layer = Linear("fc", 6, 4, precision="fp32", rng=rng)
    layer.params["b"] = rng.standard_normal(4)
    _gradcheck(layer, rng.standard_normal((5, 6)), rng)


@pytest.mark.parametrize("stride", [1, 2])
def test_fp32_conv_gradients(seed, stride):
    rng = np.random.default_rng(seed)
    layer = Conv2d("conv", 2, 3, stride=stride, precision="fp32", rng=rng)
    _gradcheck(layer, rng.standard_normal((2, 2, 5, 5)), rng)


def test_sgd_updates_scalar_alphas_like_arrays(seed):
    """The 0-d (PACT alpha) update runs on NumPy scalars: the same float32 bits as the array
    update, with a Python-float and a float64 learning rate, through the 1e-3 floor."""
    rng = np.random.default_rng(seed)
    scalar, array = Pact("a", 0.01), Pact("b", 0.01)
    array.params["alpha"] = array.params["alpha"].reshape(1)
    opts = [Sgd([layer], lr=0.05) for layer in (scalar, array)]
    for step in range(40):
        dalpha = np.float32(rng.standard_normal() * 10)
        scalar.grads["alpha"] = np.array(dalpha, dtype=np.float32)
        array.grads["alpha"] = np.array([dalpha], dtype=np.float32)
        lr = None if step % 2 else np.float64(rng.uniform(0, 0.1))
        for opt in opts:
            opt.step(64, lr=lr)
        assert scalar.params["alpha"].shape == () and scalar.params["alpha"].dtype == np.float32
        assert scalar.params["alpha"].tobytes() == array.params["alpha"].tobytes()
    assert float(scalar.params["alpha"]) >= 1e-3


def test_softmax_xent_gradient():
    logits = np.array([[1.0, 2.0, 0.5]])
    loss, d = softmax_xent(logits, np.array([1]))
    p = np.exp(logits) / np.exp(logits).sum()
    assert loss == pytest.approx(-np.log(p[0, 1]))
    assert np.allclose(d, p - np.array([[0, 1, 0]]))


@pytest.mark.parametrize("labels,error,match", [
    ([0, -1], ValueError, r"labels must be class indices in 0\.\.2, not \[-1\]"),
    ([3, 0], ValueError, r"labels must be class indices in 0\.\.2, not \[3\]"),
    ([0, 1, 2], ValueError, r"logits \(2, 3\) and labels \(3,\) do not match"),
    ([[0, 1]], ValueError, "do not match"),
    ([0.0, 1.0], TypeError, "labels must be integer class indices"),
    ([True, False], TypeError, "labels must be integer class indices"),
])
def test_softmax_xent_refuses_bad_labels(labels, error, match):
    """A label -1 used to index the last class; labels are checked to be integers in 0..C-1,
    one per row of the logits."""
    logits = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]], np.float32)
    with pytest.raises(error, match=match):
        softmax_xent(logits, np.array(labels))


def test_softmax_xent_logit_checks_and_edge_labels():
    with pytest.raises(TypeError, match="logits must be floating point"):
        softmax_xent(np.array([[1, 2]]), np.array([0]))
    with pytest.raises(ValueError, match="logits have no classes"):
        softmax_xent(np.zeros((1, 0), np.float32), np.array([0]))
    logits = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]], np.float32)
    for labels in (np.array([0, 2], np.uint8), np.array([2, 2])):
        loss, d = softmax_xent(logits, labels)
        assert d.dtype == np.float32 and np.isfinite(loss)
    loss, d = softmax_xent(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    assert loss == 0 and d.shape == (0, 3)


def test_q4_linear_is_the_documented_integer_step(seed):
    """Forward and backward of a 4-bit layer recomputed by hand from the golden primitives."""
    from golden.formats import int4_decode, r4_decode, r4_quantize
    from golden.quant import sawb_quantize

    rng = np.random.default_rng(seed)
    layer = Linear("fc", 8, 3, precision="q4", rng=rng)
    ctx = _ctx(NumpyBackend(), rounding="nearest")
    x = QAct(rng.integers(0, 16, (4, 8)).astype(np.uint8), 0.25)
    y = layer.forward(x, ctx)
    q = sawb_quantize(layer.params["w"])
    acc = x.codes.astype(np.int64) @ int4_decode(q.codes).astype(np.int64).T
    assert np.array_equal(y, acc.astype(np.float16).astype(np.float32)
                          * np.float32(0.25 * q.scale) + layer.params["b"])
    dy = (rng.standard_normal((4, 3)) * 1e-2).astype(np.float32)
    dx = layer.backward(dy, ctx)
    dy16 = dy.astype(np.float16)
    g = grad_scale_exp(dy16)
    dyq0 = r4_decode(r4_quantize(dy16, phase=0, scale_exp=g), phase=0, scale_exp=g)
    dyq1 = r4_decode(r4_quantize(dy16, phase=1, scale_exp=g), phase=1, scale_exp=g)
    dw = (dyq0.T @ x.codes.astype(np.float64)).astype(np.float16).astype(np.float32)
    assert np.array_equal(layer.grads["w"], dw * np.float32(0.25))
    dxx = (dyq1 @ int4_decode(q.codes).astype(np.float64)).astype(np.float16)
    assert np.array_equal(dx, dxx.astype(np.float32) * np.float32(q.scale))


def test_shape_errors():
    rng = np.random.default_rng(0)
    ctx = _ctx()
    fc = Linear("fc", 8, 3, precision="fp32", rng=rng)
    with pytest.raises(ValueError, match="input width"):
        fc.forward(np.zeros((2, 7), np.float32), ctx)
    fc.forward(np.zeros((2, 8), np.float32), ctx)
    with pytest.raises(ValueError, match="gradient shape"):
        fc.backward(np.zeros((2, 4), np.float32), ctx)
    q4 = Linear("fc", 8, 3, precision="q4", rng=rng)
    with pytest.raises(TypeError, match="UINT4 activation codes"):
        q4.forward(np.zeros((2, 8), np.float32), ctx)
    with pytest.raises(ValueError, match="input width"):
        q4.forward(QAct(np.zeros((2, 9), np.uint8), 1.0), ctx)
    conv = Conv2d("conv", 2, 3, precision="q4", rng=rng)
    with pytest.raises(ValueError, match=r"not \(N, 2, H, W\)"):
        conv.forward(QAct(np.zeros((1, 3, 4, 4), np.uint8), 1.0), ctx)
    conv.forward(QAct(np.zeros((1, 2, 4, 4), np.uint8), 1.0), ctx)
    with pytest.raises(ValueError, match="gradient shape"):
        conv.backward(np.zeros((1, 3, 2, 2), np.float32), ctx)
    with pytest.raises(ValueError, match="precision"):
        Linear("fc", 2, 2, precision="int8", rng=rng)


def _codes(rng, *shape):
    return QAct(rng.integers(0, 16, shape).astype(np.uint8), 0.1)


#: Every layer class, each with a forward input (batch 4) and the shape its output has.
LAYER_CASES = {
    "linear-fp32": (lambda rng: Linear("fc-a", 5, 2, precision="fp32", rng=rng),
                    lambda rng: rng.standard_normal((4, 5)).astype(np.float32), (4, 2)),
    "linear-q4": (lambda rng: Linear("fc-b", 3, 2, precision="q4", rng=rng),
                  lambda rng: _codes(rng, 4, 3), (4, 2)),
    "conv-fp32": (lambda rng: Conv2d("conv-a", 2, 3, stride=2, precision="fp32", rng=rng),
                  lambda rng: rng.standard_normal((4, 2, 5, 5)).astype(np.float32), (4, 3, 3, 3)),
    "conv-q4": (lambda rng: Conv2d("conv-b", 2, 3, pad=0, precision="q4", rng=rng),
                lambda rng: _codes(rng, 4, 2, 5, 4), (4, 3, 3, 2)),
    "relu": (lambda rng: Relu("relu-a"),
             lambda rng: rng.standard_normal((4, 3)).astype(np.float32), (4, 3)),
    "pact": (lambda rng: Pact("act-a", 2.0),
             lambda rng: rng.standard_normal((4, 3, 2)).astype(np.float32), (4, 3, 2)),
    "flatten": (lambda rng: Flatten("flat-a"),
                lambda rng: rng.standard_normal((4, 3, 2, 2)).astype(np.float32), (4, 12)),
    "flatten-q4": (lambda rng: Flatten("flat-b"), lambda rng: _codes(rng, 4, 3, 2, 2), (4, 12)),
    "pixels": (lambda rng: PixelQuant("pixels-a"),
               lambda rng: rng.uniform(0, 1, (4, 6)).astype(np.float32), (4, 6)),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_backward_checks_the_whole_gradient_shape(case, seed):
    """Every layer's backward compares the full gradient shape with what its forward produced:
    a wrong batch size (which a 4-bit GEMM would report without the layer's name, an FP32
    matmul as NumPy's error, and ReLU would broadcast) is a ValueError naming the layer and
    both shapes; before any forward pass, or given a non-array, a clear error as well."""
    make, inp, out_shape = LAYER_CASES[case]
    rng = np.random.default_rng(seed)
    layer = make(rng)
    ctx = _ctx(rounding="nearest")
    with pytest.raises(RuntimeError, match=f"{layer.name}: backward called before any forward"):
        layer.backward(np.zeros(out_shape, np.float32), ctx)
    y = layer.forward(inp(rng), ctx)
    assert (y.codes if isinstance(y, QAct) else y).shape == out_shape
    wrong = [(1,) + out_shape[1:], (5,) + out_shape[1:], out_shape[:-1] + (out_shape[-1] + 1,),
             out_shape + (1,), out_shape[:-1]]
    for shape in wrong:
        msg = (f"{layer.name}: gradient shape {shape} does not match the output shape "
               f"{out_shape}")
        with pytest.raises(ValueError, match=re.escape(msg)):
            layer.backward(np.zeros(shape, np.float32), ctx)
    with pytest.raises(TypeError, match=f"{layer.name}: the gradient must be a NumPy array"):
        layer.backward(np.zeros(out_shape).tolist(), ctx)
    dy = (rng.standard_normal(out_shape) * 1e-2).astype(np.float32)
    layer.backward(dy, ctx)                   # the right shape still passes
    # A second forward with another batch size moves the expected shape along with it.
    x2 = inp(rng)
    x2 = QAct(x2.codes[:2], x2.scale) if isinstance(x2, QAct) else x2[:2]
    layer.forward(x2, ctx)
    layer.backward(dy[:2], ctx)
    with pytest.raises(ValueError, match="gradient shape"):
        layer.backward(dy, ctx)


def test_gemm_backward_checks_the_matrix_shape_too(seed):
    """The matrix-level backward under Linear and Conv2d checks (rows, n_out) of the GEMM."""
    rng = np.random.default_rng(seed)
    ctx = _ctx(rounding="nearest")
    conv = Conv2d("conv", 2, 3, precision="q4", rng=rng)
    conv.forward(_codes(rng, 2, 2, 4, 4), ctx)
    with pytest.raises(ValueError, match=re.escape("conv: gradient shape (31, 3) does not match "
                                                   "the GEMM output shape (32, 3)")):
        conv._backward_mat(np.zeros((31, 3), np.float32), ctx, True)


BAD_ARGUMENTS = [
    (lambda rng: Linear("fc", 0, 2, rng=rng), TypeError, "n_in must be a positive integer, not 0"),
    (lambda rng: Linear("fc", 2, -1, rng=rng), TypeError, "n_out must be a positive integer"),
    (lambda rng: Linear("fc", 2.0, 2, rng=rng), TypeError, "n_in must be a positive integer"),
    (lambda rng: Linear("fc", True, 2, rng=rng), TypeError, "n_in must be a positive integer"),
    (lambda rng: Linear("fc", 2, 2, rng=None), TypeError, "rng must be a numpy.random.Generator"),
    (lambda rng: Linear("fc", 2, 2, rng=np.random.RandomState(0)), TypeError, "rng must be"),
    (lambda rng: Linear("fc", 2, 2, precision="int8", rng=rng), ValueError, "precision"),
    (lambda rng: Linear(3, 2, 2, rng=rng), TypeError, "name must be a non-empty string"),
    (lambda rng: Linear("", 2, 2, rng=rng), TypeError, "name must be a non-empty string"),
    (lambda rng: Conv2d("conv", 1, 2, 0, rng=rng), TypeError, "k must be a positive integer"),
    (lambda rng: Conv2d("conv", 0, 2, rng=rng), TypeError, "c_in must be a positive integer"),
    (lambda rng: Conv2d("conv", 1, 0, rng=rng), TypeError, "c_out must be a positive integer"),
    (lambda rng: Conv2d("conv", 1, 2, stride=0, rng=rng), TypeError,
     "stride must be a positive integer, not 0"),
    (lambda rng: Conv2d("conv", 1, 2, stride=1.5, rng=rng), TypeError, "stride must be"),
    (lambda rng: Conv2d("conv", 1, 2, pad=-1, rng=rng), TypeError,
     "pad must be a non-negative integer, not -1"),
    (lambda rng: Conv2d("conv", 1, 2, pad=False, rng=rng), TypeError, "pad must be"),
    (lambda rng: Pact("act", 0.0), ValueError, "PACT alpha must be a positive finite number"),
    (lambda rng: Pact("act", float("nan")), ValueError, "PACT alpha must be"),
    (lambda rng: Pact("act", "4"), TypeError, "PACT alpha must be a real number"),
    (lambda rng: Pact("act", 1e39), ValueError, "not a positive finite FP32 number"),
    (lambda rng: Pact("act", 1e-50), ValueError, "not a positive finite FP32 number"),
    (lambda rng: Pact("act", 2.0, l2=-1e-4), ValueError, "l2 must be a non-negative"),
    (lambda rng: Relu(None), TypeError, "name must be a non-empty string"),
    (lambda rng: QuantConfig(tpr="no"), TypeError, "tpr must be a bool, not 'no'"),
    (lambda rng: QuantConfig(tpr=1), TypeError, "tpr must be a bool"),
    (lambda rng: QuantConfig(fixed_scale_exp=500), ValueError,
     f"fixed_scale_exp must be in {SCALE_EXP_MIN}..{SCALE_EXP_MAX}"),
    (lambda rng: QuantConfig(fixed_scale_exp=SCALE_EXP_MIN - 1), ValueError, "fixed_scale_exp"),
    (lambda rng: QuantConfig(fixed_scale_exp=1.0), TypeError,
     "fixed_scale_exp must be an integer"),
    (lambda rng: QuantConfig(fixed_scale_exp=True), TypeError, "fixed_scale_exp must be"),
    (lambda rng: QuantConfig(rounding="up"), ValueError, "rounding must be one of"),
    (lambda rng: QuantConfig(grad_scale="max"), ValueError, "grad_scale must be one of"),
    (lambda rng: QuantConfig(accumulate="fp8"), ValueError, "accumulate must be one of"),
    (lambda rng: QuantConfig(acc_width=17), ValueError, "acc_width must be in"),
    (lambda rng: QuantConfig(acc_width=32.0), TypeError, "acc_width must be an integer"),
    (lambda rng: StepContext(TableBackend(), "paper"), TypeError, "config must be a QuantConfig"),
    (lambda rng: StepContext(TableBackend(), run_seed=-1), TypeError,
     "run_seed must be a non-negative integer"),
    (lambda rng: StepContext(TableBackend(), step=0.5), TypeError, "step must be"),
    (lambda rng: Sgd([], lr=0), ValueError, "lr must be a positive finite number"),
    (lambda rng: Sgd([], lr="0.1"), TypeError, "lr must be a real number"),
    (lambda rng: Sgd([], lr=0.1, momentum=1.0), ValueError, "momentum must be in"),
    (lambda rng: Sgd([], lr=0.1, weight_decay=-1), ValueError, "weight_decay must be"),
    (lambda rng: Sequential([]), ValueError, "at least one layer with parameters"),
    (lambda rng: Sequential([Relu("r"), Flatten("f")]), ValueError, "at least one layer"),
    (lambda rng: Sequential([Linear("fc", 2, 2, rng=rng), "relu"]), TypeError,
     "Sequential takes Layer objects"),
    (lambda rng: QuantConfig(fixed_scale_exp=3), ValueError,
     r"fixed_scale_exp=3 is only used with grad_scale='off', not grad_scale='current'"),
    (lambda rng: QuantConfig(grad_scale="delayed", fixed_scale_exp=-1), ValueError,
     "only used with grad_scale='off'"),
    (lambda rng: StepContext(None), TypeError, "backend must implement gemm_readout"),
    (lambda rng: StepContext("table"), TypeError, "backend must implement"),
    (lambda rng: QAct(np.zeros(2, np.uint8), -1.0), ValueError,
     "QAct scale must be a positive finite number, not -1.0"),
    (lambda rng: QAct(np.zeros(2, np.uint8), 0.0), ValueError, "QAct scale must be a positive"),
    (lambda rng: QAct(np.zeros(2, np.uint8), float("nan")), ValueError, "QAct scale must be"),
    (lambda rng: QAct(np.zeros(2, np.uint8), float("inf")), ValueError, "QAct scale must be"),
    (lambda rng: QAct(np.zeros(2, np.uint8), "1"), TypeError, "QAct scale must be a real number"),
    (lambda rng: QAct("abc", 1.0), TypeError, "QAct codes must be an integer array"),
    (lambda rng: QAct(np.array([0.5]), 1.0), TypeError, "QAct codes must be an integer array"),
    (lambda rng: QAct(np.array([16]), 1.0), ValueError, r"QAct codes must hold 4-bit codes 0\.\.15"),
    (lambda rng: QAct(np.array([-1]), 1.0), ValueError, "QAct codes must hold 4-bit codes"),
]


@pytest.mark.parametrize("make,error,match", BAD_ARGUMENTS,
                         ids=[f"{i}-{m[:30]}" for i, (_, _, m) in enumerate(BAD_ARGUMENTS)])
def test_bad_constructor_arguments_are_refused_up_front(make, error, match):
    with pytest.raises(error, match=match):
        make(np.random.default_rng(0))


def test_constructor_boundaries_are_accepted():
    rng = np.random.default_rng(0)
    for g in (SCALE_EXP_MIN, SCALE_EXP_MAX, np.int64(-3)):
        cfg = QuantConfig(grad_scale="off", fixed_scale_exp=g, acc_width=np.int32(18))
        assert type(cfg.fixed_scale_exp) is int and type(cfg.acc_width) is int
    Conv2d("conv", 1, 1, 1, stride=3, pad=0, rng=rng)
    Linear("fc", np.int64(1), 1, rng=rng)
    Pact("act", 1e-3, l2=0)
    Sgd([], lr=1e-3, momentum=0, weight_decay=0)


def test_conv_input_smaller_than_the_kernel_is_an_error():
    rng = np.random.default_rng(0)
    conv = Conv2d("conv", 1, 2, 3, pad=0, precision="fp32", rng=rng)
    with pytest.raises(ValueError, match=r"conv: input shape \(1, 1, 2, 5\) padded by 0 is "
                                         r"smaller than the 3x3 kernel"):
        conv.forward(np.zeros((1, 1, 2, 5), np.float32), _ctx())
    assert conv.forward(np.zeros((1, 1, 3, 5), np.float32), _ctx()).shape == (1, 2, 1, 3)


def test_nan_inf_never_pass_silently():
    rng = np.random.default_rng(0)
    ctx = _ctx()
    with pytest.raises(FloatingPointError):
        Pact("act", 2.0).forward(np.array([[np.nan]], np.float32), ctx)
    q4 = Linear("fc", 4, 2, precision="q4", rng=rng)
    q4.forward(QAct(np.ones((3, 4), np.uint8), 0.1), ctx)
    with pytest.raises(FloatingPointError):
        q4.backward(np.array([[np.nan, 0], [0, 0], [0, 0]], np.float32), ctx)
    with pytest.raises(FloatingPointError, match="overflows FP16"):
        q4.backward(np.array([[1e6, 0], [0, 0], [0, 0]], np.float32), ctx)
    with pytest.raises(FloatingPointError):
        softmax_xent(np.array([[np.inf, 0.0]]), np.array([0]))
    # The quantizer's own flag path: an Inf FP16 gradient is flagged invalid, never clipped.
    flags = TableBackend().quantize_grad(np.array([np.inf, np.nan, 1.0], np.float16), phase=0,
                                         scale_exp=0, rounding="nearest", seed=None)
    assert flags.invalid.tolist() == [True, True, False]


def test_grad_scale_comes_from_the_fp16_amax(seed):
    """The layer takes g from max|dY| rounded once to FP16 (RNE is monotone and odd): the g of
    the FP16 tensor's amax, also where rounding carries max|dY| up to a power of two; FP16
    overflow starts exactly at 65520."""
    rng = np.random.default_rng(seed)
    seen = []

    class Spy(TableBackend):
        def quantize_grad(self, fp16, **kw):
            seen.append((kw["scale_exp"], grad_scale_exp(fp16)))
            return super().quantize_grad(fp16, **kw)

        def quantize_grad_tpr(self, fp16, **kw):
            seen.append((kw["scale_exp"], grad_scale_exp(fp16)))
            return super().quantize_grad_tpr(fp16, **kw)

    ctx = _ctx(Spy())
    q4 = Linear("fc", 6, 5, precision="q4", rng=rng)
    for k in range(-20, 12):
        dy = (rng.standard_normal((4, 5)) * 2.0 ** (k - 2)).astype(np.float32)
        dy[rng.integers(0, 4), rng.integers(0, 5)] = np.float32(rng.choice([-1, 1])
                                                                * 2.0 ** k * (2 - 2 ** -12))
        q4.forward(QAct(rng.integers(0, 16, (4, 6)).astype(np.uint8), 0.1), ctx)
        q4.backward(dy, ctx)
    assert seen and all(got == want for got, want in seen)
    q4.forward(QAct(np.ones((1, 6), np.uint8), 0.1), ctx)
    q4.backward(np.array([[65519.99, -65519.99, 0, 0, 0]], np.float32), ctx)
    with pytest.raises(FloatingPointError, match="overflows FP16"):
        q4.backward(np.array([[0, -65520, 0, 0, 0]], np.float32), ctx)


def test_k_beyond_the_accumulator_bound_is_an_error():
    rng = np.random.default_rng(0)
    ctx = _ctx(acc_width=18)                  # max_safe_k(uint4 x int4) = 1092, (uint4 x r4) = 1
    q4 = Linear("fc", 4, 2, precision="q4", rng=rng)
    q4.forward(QAct(np.ones((3, 4), np.uint8), 0.1), ctx)
    with pytest.raises(AccumulatorBoundError, match="exceeds the guaranteed bound"):
        q4.backward(np.ones((3, 2), np.float32) * 1e-3, ctx)


def test_scale_exp_of_amax_on_every_fp16():
    """g puts amax * 2^g in (32, 64] (exact in float64) for every positive finite FP16."""
    for v in ALL_FP16[1:0x7C00]:
        g = scale_exp_of_amax(v)
        assert 32 < float(v) * 2.0 ** g <= 64, (v, g)
    assert scale_exp_of_amax(np.float16(0)) == 0
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        scale_exp_of_amax(np.float16(np.inf))


def test_fp16_conversions_match_numpy_casts(seed):
    rng = np.random.default_rng(seed)
    h = ALL_FP16[np.isfinite(ALL_FP16)]
    f = h.astype(np.float32)
    with np.errstate(over="ignore"):
        nxt = np.nextafter(h, np.float16(np.inf)).astype(np.float32)
    mid = ((f.astype(np.float64) + nxt) / 2).astype(np.float32)
    x = np.concatenate([f, mid, np.nextafter(mid, np.float32(1e9)),
                        np.nextafter(mid, np.float32(-1e9)),
                        rng.standard_normal(20000).astype(np.float32)
                        * np.float32(10.0) ** rng.integers(-9, 6, 20000).astype(np.float32)])
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    assert np.array_equal(fp16_from_f32(x).view(np.uint16), want.view(np.uint16))
    assert np.array_equal(round_f32_to_fp16(x).view(np.uint32),
                          want.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("phase", [0, 1])
def test_table_quantizer_is_the_reference_on_every_fp16(phase, seed):
    ref, fast = NumpyBackend(), TableBackend()
    rng = np.random.default_rng(seed)
    # A random g, the range ends (phase 1 with g = 127 needs the tables of g + p = 128) and
    # both phases of one g, which share tables.
    for g in (int(rng.integers(-4, 20)), -128, 127, 7):
        for rounding, s in (("nearest", None), ("stochastic", seed % (2 ** 32 - 1) + 1)):
            a = ref.quantize_grad(ALL_FP16, phase=phase, scale_exp=g, rounding=rounding, seed=s)
            b = fast.quantize_grad(ALL_FP16, phase=phase, scale_exp=g, rounding=rounding,
                                   seed=s)
            for x, y in zip(a, b):
                assert x.dtype == y.dtype and np.array_equal(x, y), (rounding, g)


def test_table_quantizer_shapes_stream_order_and_errors(seed):
    """Any shape and layout is quantized in C order (one draw per element, partial blocks of
    the table-driven stream included); bad arguments raise what the reference raises."""
    ref, fast = NumpyBackend(), TableBackend()
    rng = np.random.default_rng(seed)
    s = seed % (2 ** 32 - 1) + 1
    x = (rng.standard_normal((3, 5, 700)) * 0.1).astype(np.float16)
    for arr in (x, x[:, ::2, 1:], x.transpose(2, 0, 1), x[0, 0, :1], x[:0]):
        for phase in (0, 1):
            a = ref.quantize_grad(arr, phase=phase, scale_exp=9, rounding="stochastic", seed=s)
            b = fast.quantize_grad(arr, phase=phase, scale_exp=9, rounding="stochastic", seed=s)
            for u, v in zip(a, b):
                assert u.shape == arr.shape and np.array_equal(u, v)
    for kw in ({"phase": 2}, {"phase": True}, {"scale_exp": 128}, {"scale_exp": 1.0},
               {"rounding": "up"}, {"seed": 0}, {"seed": 2 ** 32}, {"rounding": "nearest"}):
        args = {"phase": 0, "scale_exp": 3, "rounding": "stochastic", "seed": 5} | kw
        errors = []
        for backend in (ref, fast):
            with pytest.raises((TypeError, ValueError)) as info:
                backend.quantize_grad(x, **args)
            errors.append(type(info.value))
        assert errors[0] == errors[1], kw


@pytest.mark.parametrize("a_format,b_format", [("uint4", "int4"), ("uint4", "r4"),
                                               ("int4", "r4"), ("int4", "uint4")])
def test_table_gemm_is_the_reference_for_every_layout(a_format, b_format, seed):
    """C- and F-ordered, strided and odd-width operands (the R4 pair decoding needs an even
    contiguous axis and falls back otherwise), both phases."""
    rng = np.random.default_rng(seed)
    ref, fast = NumpyBackend(), TableBackend()
    a = rng.integers(0, 16, (9, 40), dtype=np.uint8)
    b = rng.integers(0, 16, (40, 12), dtype=np.uint8)
    for phase in (0, 1):
        for aa, bb in ((a, b), (np.asfortranarray(a), np.asfortranarray(b)), (b.T, a.T),
                       (a[:, ::2], b[::2, :]), (a[:, :7], b[:7, :5]), (a[:, :7], b[:7, :5].T.T)):
            want = ref.gemm(aa, bb, a_format=a_format, b_format=b_format, phase=phase,
                            acc_width=32)
            got = fast.gemm(aa, bb, a_format=a_format, b_format=b_format, phase=phase,
                            acc_width=32)
            assert got.acc.dtype == np.int64 and np.array_equal(want.acc, got.acc)
            assert np.array_equal(want.overflow, got.overflow)


def _rounding_cases(rng) -> np.ndarray:
    """Accumulators that land on, next to and between FP16 rounding points at any offset."""
    s = np.arange(1, 14)
    m = rng.integers(1 << 10, 1 << 11, s.size)                   # 11 significant bits
    ties = (m << s) + (1 << (s - 1))                             # exactly halfway, odd and even m
    near = np.concatenate([ties - 1, ties, ties + 1, m << s])
    small = np.arange(-2100, 2100)                               # every subnormal step
    return np.concatenate([near, -near, small, rng.integers(-2 ** 23, 2 ** 23, 3000),
                           rng.integers(-2 ** 14, 2 ** 14, 1000),
                           [2 ** 24 - 1, -(2 ** 24 - 1), 2 ** 24, -(2 ** 24), 2 ** 30]])


def test_table_readout_is_the_reference(seed):
    """Every offset the fast path serves (and its edges): ties, subnormals, zero, both signs,
    the 2^24 and FP16-overflow limits where it hands over to the general path."""
    rng = np.random.default_rng(seed)
    acc = _rounding_cases(rng)[:-1]
    ref_backend, fast = NumpyBackend(), TableBackend()
    for offset in list(range(-45, 21)) + [-100, -101, 100, 255, -256]:
        top = np.array([65519, -65519, 65520, -65520, 0]) << min(max(0, -offset), 31)
        cases = [acc, acc.reshape(-1, 2), np.asfortranarray(acc.reshape(2, -1)), top]
        for a in cases:
            ref = ref_backend.readout(a, exp_offset=offset)
            got = fast.readout(a, exp_offset=offset)
            assert got.values.shape == a.shape and got.values.dtype == np.float16
            assert np.array_equal(ref.values.view(np.uint16), got.values.view(np.uint16)), offset
            assert np.array_equal(ref.overflow, got.overflow), offset
    for bad in (1.5, True, 256, -257):
        with pytest.raises((TypeError, ValueError)):
            ref_backend.readout(acc, exp_offset=bad)
        with pytest.raises((TypeError, ValueError)):
            fast.readout(acc, exp_offset=bad)


def test_fp16_from_f32_on_random_float32_patterns(seed):
    """The one-addition rounding against NumPy's cast on random bit patterns of every exponent
    (the conversion was also checked on all 2^32 patterns once; that takes minutes)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2 ** 32, 300000, dtype=np.uint64).astype(np.uint32)
    exps = (np.arange(256, dtype=np.uint32) << 23)[:, None]
    edges = np.array([0, 1, 0xFFF, 0x1000, 0x1FFF, 0x2000, 0x3FFFFF, 0x7FFFFF], dtype=np.uint32)
    bits = np.concatenate([bits, (exps | edges).ravel(), (exps | edges).ravel() | 0x80000000])
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    with np.errstate(over="ignore", under="ignore"):
        want = x.astype(np.float16)
    assert np.array_equal(fp16_from_f32(x).view(np.uint16), want.view(np.uint16))


def test_table_readout_of_its_own_gemm_result(seed):
    """TableBackend keeps the float32 image of its last GEMM result for that result's
    read-out; the accumulators are read-only, and any other array (a copy, an older result,
    a second read-out) takes the ordinary path, with the same values."""
    rng = np.random.default_rng(seed)
    fast, ref = TableBackend(), NumpyBackend()
    a = rng.integers(0, 16, (6, 50), dtype=np.uint8)
    b = rng.integers(0, 16, (50, 4), dtype=np.uint8)
    first = fast.gemm(a, b, a_format="uint4", b_format="r4", phase=1, acc_width=32).acc
    second = fast.gemm(a, b, a_format="uint4", b_format="r4", phase=0, acc_width=32).acc
    with pytest.raises(ValueError, match="read-only"):
        second[0, 0] = 1
    for acc in (second, second, first, second.copy()):
        for off in (-20, -9):
            want = ref.readout(acc, exp_offset=off).values.view(np.uint16)
            assert np.array_equal(fast.readout(acc, exp_offset=off).values.view(np.uint16), want)
    fast.gemm(a, b, a_format="uint4", b_format="r4", phase=0, acc_width=32)
    got = fast.readout(second, exp_offset=-9).values
    assert np.array_equal(got.view(np.uint16), ref.readout(second, exp_offset=-9).values.view(
        np.uint16))


class RecordingBackend(NumpyBackend):
    """The reference backend, logging the dtype of every tensor that crosses the boundary."""

    def __init__(self):
        self.log = []

    def gemm(self, a_codes, b_codes, **kw):
        res = super().gemm(a_codes, b_codes, **kw)
        self.log.append(("gemm", a_codes.dtype, b_codes.dtype, res.acc.dtype, res.overflow.dtype,
                         kw["phase"]))
        return res

    def readout(self, acc, **kw):
        res = super().readout(acc, **kw)
        self.log.append(("readout", acc.dtype, res.values.dtype))
        return res

    def quantize_grad(self, fp16, **kw):
        res = super().quantize_grad(fp16, **kw)
        self.log.append(("quantize_grad", fp16.dtype, res.codes.dtype, kw["phase"]))
        return res


@pytest.mark.parametrize("model,policy,rounding", [("mlp", "q4", "stochastic"),
                                                   ("cnn", "q4-all", "nearest")])
def test_a_backend_returning_the_same_integers_gives_the_identical_run(model, policy,
                                                                       rounding):
    data = load_digits_split()
    data = data._replace(x_test=data.x_test[:100], y_test=data.y_test[:100])
    cfg = QuantConfig(rounding=rounding)
    rec = RecordingBackend()
    runs = [train_run(model, policy, 3, data=data, config=cfg, backend=b, epochs=1,
                      max_steps=2, batch=32) for b in (rec, TableBackend())]
    for key in ("train_loss", "test_acc", "stats", "alphas"):
        assert runs[0][key] == runs[1][key]
    kinds = {entry[0] for entry in rec.log}
    assert kinds == {"gemm", "readout", "quantize_grad"}
    for entry in rec.log:
        if entry[0] == "gemm":
            assert entry[1:5] == (np.uint8, np.uint8, np.int64, np.bool_)
        elif entry[0] == "readout":
            assert entry[1:] == (np.int64, np.float16)
        else:
            assert entry[1:3] == (np.float16, np.uint8)
    assert {e[-1] for e in rec.log if e[0] == "quantize_grad"} == {0, 1}     # TPR


def test_stochastic_seeds_change_the_run_tpr_off_uses_one_phase():
    data = load_digits_split()
    data = data._replace(x_test=data.x_test[:50], y_test=data.y_test[:50])
    a = train_run("mlp", "q4", 1, data=data, epochs=1, max_steps=3, batch=32)
    b = train_run("mlp", "q4", 2, data=data, epochs=1, max_steps=3, batch=32)
    assert a["train_loss"] != b["train_loss"]
    rec = RecordingBackend()
    train_run("mlp", "q4", 1, data=data, epochs=1, max_steps=1, batch=32, backend=rec,
              config=QuantConfig(tpr=False))
    assert {e[-1] for e in rec.log if e[0] in ("quantize_grad", "gemm")} == {0}


def test_readout_overflow_counter_is_the_golden_flag_count(seed):
    """A 4-bit Linear whose forward and backward read-outs partly overflow FP16: the layer's
    ``readout_overflow`` counter equals the overflow flags golden.gemm.readout raises on the
    same integer GEMMs, recomputed here from the golden primitives (nearest rounding)."""
    rng = np.random.default_rng(seed)
    n_in, n_out, batch = 1000, 7, 8
    layer = Linear("fc", n_in, n_out, precision="q4", rng=rng)
    layer.params["w"] = rng.uniform(0.5, 1.0, (n_out, n_in)).astype(np.float32)
    lo = np.arange(batch)[:, None]                   # row r: codes in r..15 (mean 7.5..11.5)
    x = QAct(rng.integers(lo, 16, (batch, n_in)).astype(np.uint8), 0.01)
    ctx = _ctx(rounding="nearest")
    layer.forward(x, ctx)
    q = sawb_quantize(layer.params["w"])
    acc = gemm(x.codes, q.codes.T, a_format="uint4", b_format="int4")
    fwd = int(np.count_nonzero(readout(acc, exp_offset=0, flags=True).overflow))
    assert 0 < fwd < batch * n_out
    assert ctx.stats["readout_overflow"] == fwd

    dy = (rng.uniform(0.5, 1.0, (batch, n_out))
          * np.array([1, 10, 100, 1000, 5000, 8000, 8000])).astype(np.float32)
    layer.backward(dy, ctx)
    dy16 = dy.astype(np.float16)
    g = grad_scale_exp(dy16)
    c0 = r4_quantize(dy16, phase=0, scale_exp=g, rounding="nearest")
    c1 = r4_quantize(dy16, phase=1, scale_exp=g, rounding="nearest")
    acc_dw = gemm(x.codes.T, c0, a_format="uint4", b_format="r4", phase=0)
    acc_dx = gemm(q.codes.T, c1.T, a_format="int4", b_format="r4", phase=1)
    bwd = [int(np.count_nonzero(readout(a, exp_offset=-7 - g, flags=True).overflow))
           for a in (acc_dw, acc_dx)]
    assert bwd[0] > 0 and bwd[1] > 0
    assert ctx.stats["readout_overflow"] == fwd + sum(bwd)

    # The FP16-accumulation ablation counts its own overflow flags.
    ctx16 = _ctx(rounding="nearest", accumulate="fp16")
    layer.forward(x, ctx16)
    want = gemm_fp16(x.codes, q.codes.T, a_format="uint4", b_format="int4", flags=True)
    assert ctx16.stats["fp16_acc_overflow"] == int(np.count_nonzero(want.overflow)) > 0
    assert ctx16.stats["readout_overflow"] == 0


OFF3 = {"grad_scale": "off", "fixed_scale_exp": 3}


@pytest.mark.parametrize("cfg,need_dx", [({}, True), ({"rounding": "nearest"}, True),
                                         ({}, False), ({"tpr": False}, True), (OFF3, True),
                                         (OFF3, False), (OFF3 | {"tpr": False}, True)])
def test_grad_saturated_counter_is_the_golden_flag_count(cfg, need_dx, seed):
    """``grad_saturated`` counts the R4 saturation flags of every gradient quantization the
    backward ran: phases 0 and 1 with TPR (and dX wanted), phase 0 alone otherwise; the flags
    do not depend on the rounding, so golden.formats.r4_quantize recomputes them. Phase 0
    never saturates under the current GradScale (amax * 2^g <= 64); a fixed g = 3 makes it."""
    rng = np.random.default_rng(seed)
    layer = Linear("fc", 5, 40, precision="q4", rng=rng)
    ctx = _ctx(**cfg)
    layer.forward(_codes(rng, 16, 5), ctx)
    dy = (rng.standard_normal((16, 40)) * rng.uniform(0.1, 10, 40)).astype(np.float32)
    layer.backward(dy, ctx, need_dx=need_dx)
    dy16 = dy.astype(np.float16)
    g = ctx.config.fixed_scale_exp if ctx.config.grad_scale == "off" else grad_scale_exp(dy16)
    phases = (0, 1) if ctx.config.tpr and need_dx else (0,)
    want = sum(int(np.count_nonzero(r4_quantize(dy16, phase=p, scale_exp=g, rounding="nearest",
                                                flags=True).saturated)) for p in phases)
    assert ctx.stats["grad_saturated"] == want
    assert (want > 0) == (phases == (0, 1) or ctx.config.grad_scale == "off")


def _trained_layer(rng):
    layer, ctx = Linear("fc", 4, 3, precision="fp32", rng=rng), _ctx()
    y = layer.forward(rng.standard_normal((2, 4)).astype(np.float32), ctx)
    layer.backward(np.ones_like(y), ctx)
    return layer


@pytest.mark.parametrize("kw,error,match", [
    ({"batch_size": 0}, TypeError, "batch_size must be a positive integer, not 0"),
    ({"batch_size": -2}, TypeError, "batch_size must be a positive integer"),
    ({"batch_size": 1.5}, TypeError, "batch_size must be a positive integer"),
    ({"batch_size": "2"}, TypeError, "batch_size must be a positive integer, not '2'"),
    ({"batch_size": True}, TypeError, "batch_size must be a positive integer"),
    ({"lr": -0.1}, ValueError, "lr must be a non-negative finite number, not -0.1"),
    ({"lr": float("nan")}, ValueError, "lr must be a non-negative finite number"),
    ({"lr": float("inf")}, ValueError, "lr must be a non-negative finite number"),
    ({"lr": "0.1"}, TypeError, "lr must be a real number"),
])
def test_sgd_step_refuses_bad_arguments_and_changes_nothing(kw, error, match):
    layer = _trained_layer(np.random.default_rng(0))
    before = {k: p.copy() for k, p in layer.params.items()}
    with pytest.raises(error, match=match):
        Sgd([layer], lr=0.1).step(**({"batch_size": 2} | kw))
    assert all(np.array_equal(before[k], p) for k, p in layer.params.items())


def test_sgd_step_needs_a_backward_before_every_step():
    rng = np.random.default_rng(0)
    fresh = Linear("fc", 4, 3, precision="fp32", rng=rng)
    with pytest.raises(RuntimeError, match="fc has no gradient for b, w: call backward"):
        Sgd([fresh], lr=0.1).step(2)
    layer = _trained_layer(rng)
    opt = Sgd([layer], lr=0.1)
    opt.step(2)
    with pytest.raises(RuntimeError, match="call backward before every step"):
        opt.step(2)                           # the gradient of the first step is used up


def test_layers_name_their_input_when_it_is_not_numbers():
    rng, ctx = np.random.default_rng(0), _ctx()
    fc = Linear("fc", 4, 3, precision="fp32", rng=rng)
    conv = Conv2d("conv", 1, 2, precision="fp32", rng=rng)
    for bad in ("abcd", np.array([["a", "b", "c", "d"]]), [[1.0, "a", 2.0, 3.0]]):
        with pytest.raises(TypeError, match="fc input must be an array of real numbers"):
            fc.forward(bad, ctx)
    for bad in ("abc", np.full((1, 1, 2, 2), "a")):
        with pytest.raises(TypeError, match="conv input must be an array of real numbers"):
            conv.forward(bad, ctx)
    # Nested lists of numbers are arrays like any other.
    assert fc.forward([[0.0] * 4], ctx).shape == (1, 3)
    assert conv.forward([[[[0.0] * 4] * 4]], ctx).shape == (1, 2, 4, 4)


def test_sgd_reads_each_parameters_options():
    """The optimizer's treatment of a parameter comes from its layer's ParamOptions: own L2
    coefficient and floor, the optimizer's weight decay, or plain SGD."""
    from nn import Layer, ParamOptions, Sgd
    from nn.optim import DECAYED

    layer = Layer("toy")
    for name in ("own", "decayed", "plain"):
        layer.params[name] = np.array([1.0, -1.0], dtype=np.float32)
    layer.param_options = {"own": ParamOptions(weight_decay=0.5, floor=0.75),
                           "decayed": ParamOptions(weight_decay=DECAYED)}
    opt = Sgd([layer], lr=1.0, momentum=0.0, weight_decay=0.25)
    layer.grads = {name: np.zeros(2, np.float32) for name in layer.params}
    opt.step(1)
    np.testing.assert_array_equal(layer.params["own"], [0.75, 0.75])       # -0.5 p, floored
    np.testing.assert_array_equal(layer.params["decayed"], [0.75, -0.75])  # -0.25 p
    np.testing.assert_array_equal(layer.params["plain"], [1.0, -1.0])


@pytest.mark.parametrize("policy,shift", [("shared", 0), ("shift-up", 2)])
def test_phase1_scale_policy_sets_the_dx_grid_and_read_out(policy, shift, seed):
    """dX of a 4-bit layer under TPR is the phase-1 R4 codes of dY at exponent g - shift
    times the SAWB weights, summed exactly, read out to FP16 once, times the weight scale
    (docs/numerics.md section 5, "Phase-1 scale"); dW is unchanged by the policy."""
    rng = np.random.default_rng(seed)
    layer = Linear("fc", 6, 12, precision="q4", rng=rng)
    ctx = _ctx(rounding="nearest", phase1_scale=policy)
    layer.forward(_codes(rng, 8, 6), ctx)
    dy = (rng.standard_normal((8, 12)) * rng.uniform(0.1, 10, 12)).astype(np.float32)
    dx = layer.backward(dy, ctx)
    dy16 = dy.astype(np.float16)
    g1 = grad_scale_exp(dy16) - shift
    q = sawb_quantize(layer.params["w"])
    d1 = r4_decode(r4_quantize(dy16, phase=1, scale_exp=g1, rounding="nearest"),
                   phase=1, scale_exp=g1)
    w = q.codes.astype(np.int64)
    w = np.where(w > 7, w - 16, w).astype(np.float64)      # INT4 two's complement
    want = (d1 @ w).astype(np.float16).astype(np.float32) * np.float32(q.scale)
    assert np.array_equal(dx, want)
    sat1 = int(np.count_nonzero(r4_quantize(dy16, phase=1, scale_exp=g1, flags=True).saturated))
    assert ctx.stats["grad_saturated_phase1"] == sat1 and (sat1 == 0) == (shift == 2)
