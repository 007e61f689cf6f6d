"""golden.layers and golden.backend: FP32 gradients, bad input, and backend equivalence."""

from __future__ import annotations

import numpy as np
import pytest

from golden.backend import NumpyBackend, TableBackend, fp16_from_f32, round_f32_to_fp16
from golden.data import load_digits_split
from golden.formats import grad_scale_exp
from golden.gemm import AccumulatorBoundError
from golden.layers import (Conv2d, Linear, Pact, QAct, QuantConfig, Sgd, StepContext,
                           scale_exp_of_amax, softmax_xent)
from golden.train import train_run

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

    for k, p in layer.params.items():
        for idx in list(np.ndindex(p.shape))[:12]:
            old = p[idx]
            p[idx] = old + eps
            up = loss()
            p[idx] = old - eps
            down = loss()
            p[idx] = old
            assert layer.grads[k][idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5,
                                                        abs=1e-7)
    for idx in list(np.ndindex(x.shape))[::7][:12]:
        old = x[idx]
        x[idx] = old + eps
        up = loss()
        x[idx] = old - eps
        down = loss()
        x[idx] = old
        assert dx[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)


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


def test_scale_exp_of_amax_matches_grad_scale_exp_on_every_fp16():
    finite = ALL_FP16[:0x7C00]
    want = [grad_scale_exp(np.array([v])) for v in finite[::97]]
    assert [scale_exp_of_amax(v) for v in finite[::97]] == want
    assert scale_exp_of_amax(np.float16(0)) == 0


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
