"""The mixes (nn.layers.MIXES): the paper's forward with MXFP4 gradients and MXFP4's forward
with the paper's R4 + TPR gradients. Each forward is its parent's bit for bit; each backward is
recomputed by hand from the golden quantizers of the other parent (docs/training.md, "Format
shoot-out", "Mixes")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import shootout
from experiments.models import MIX_POLICIES, POLICIES, build_model
from golden.backend import NumpyBackend, TableBackend
from golden.formats import grad_scale_exp, int4_decode, r4_decode, r4_quantize
from golden.mx import mxfp4_dequantize, mxfp4_quantize
from golden.quant import sawb_quantize
from nn import BlockQuant, Conv2d, Linear, Pact, QAct, QuantConfig, Relu, StepContext, grad_seed
from nn.layers import MIXES, PRECISIONS, split_precision

RUN_SEED = 3
# Batch, inputs and outputs are multiples of the MXFP4 block (32): the hand-built references
# quantize whole blocks with golden.mx directly, no padding.
BATCH, N_IN, N_OUT = 32, 64, 32


def _ctx(backend=None, **cfg):
    return StepContext(backend or TableBackend(), QuantConfig(**cfg), run_seed=RUN_SEED)


def _pair(precision, parent, seed):
    """Two layers with the same weights and bias: the mix and its forward parent."""
    layers = []
    for p in (precision, parent):
        rng = np.random.default_rng(seed)
        layer = Linear("fc", N_IN, N_OUT, precision=p, rng=rng)
        layer.params["b"] = rng.standard_normal(N_OUT).astype(np.float32)
        layers.append(layer)
    return layers


def _mx(v, axis, rounding="nearest", seed=None):
    """MXFP4 values of ``v`` in blocks of 32 along ``axis``, by golden.mx alone, as FP32."""
    t = mxfp4_quantize(v, axis=axis, rounding=rounding, seed=seed)
    return mxfp4_dequantize(t.codes, t.scales, axis=axis).astype(np.float32)


def _seed(phase, rounding):
    return grad_seed(RUN_SEED, 0, 0, phase) if rounding == "stochastic" else None


def test_the_mixes_are_precisions_and_policies():
    assert set(MIXES) <= set(PRECISIONS) and set(MIX_POLICIES) <= set(POLICIES)
    assert split_precision("q4+mxfp4grad") == ("q4", "mxfp4")
    assert split_precision("mxfp4+r4grad") == ("mxfp4", "r4")
    assert [split_precision(p) for p in ("q4", "fp32", "mxfp4", "nvfp4")] == [
        ("q4", "r4"), ("fp32", "fp32"), ("mxfp4", "mxfp4"), ("nvfp4", "nvfp4")]


@pytest.mark.parametrize("cfg", [{}, {"rounding": "nearest"}])
def test_q4_forward_mxfp4_gradients(seed, cfg):
    """Forward: q4's, bit for bit (same SAWB codes, same backend GEMM). Backward: dY MXFP4
    (stochastic, one seed per GEMM) along the batch for dW and along the outputs for dX, times
    the dequantized PACT activations and SAWB weights in FP32; no R4 quantization at all."""
    rng = np.random.default_rng(seed)
    mix, q4 = _pair("q4+mxfp4grad", "q4", seed)
    x = QAct(rng.integers(0, 16, (BATCH, N_IN)).astype(np.uint8), 0.1)
    ctx, ctx_q4 = _ctx(**cfg), _ctx(**cfg)
    y = mix.forward(x, ctx)
    assert np.array_equal(y, q4.forward(x, ctx_q4)), seed
    dy = (rng.standard_normal((BATCH, N_OUT)) * 1e-2).astype(np.float32)
    dx = mix.backward(dy, ctx)
    rounding = ctx.config.rounding
    d0 = _mx(dy, 0, rounding, _seed(0, rounding))
    d1 = _mx(dy, 1, rounding, _seed(1, rounding))
    q = sawb_quantize(mix.params["w"])
    xv = x.codes.astype(np.float32) * np.float32(0.1)
    wv = int4_decode(q.codes).astype(np.float32) * np.float32(q.scale)
    assert np.array_equal(mix.grads["w"], d0.T @ xv), seed
    assert np.array_equal(dx, d1 @ wv), seed
    assert np.array_equal(mix.grads["b"], dy.sum(axis=0))
    assert ctx.stats["fmt_elements"] == 2 * dy.size and "grad_quantized" not in ctx.stats
    # Without an input gradient: dW alone, dY quantized once.
    ctx = _ctx(**cfg)
    mix.forward(x, ctx)
    assert mix.backward(dy, ctx, need_dx=False) is None
    assert np.array_equal(mix.grads["w"], d0.T @ xv) and ctx.stats["fmt_elements"] == dy.size


@pytest.mark.parametrize("cfg", [{}, {"tpr": False}, {"rounding": "nearest"},
                                 {"phase1_scale": "shift-up"}])
def test_mxfp4_forward_r4_gradients(seed, cfg):
    """Forward: mxfp4's, bit for bit. Backward: dY to FP16 (RNE), GradScale g, R4 phase 0
    for dW and (TPR) phase 1 for dX with their seeds, as q4 quantizes it, decoded and
    multiplied in FP32 with X and W in MXFP4 along the batch and the outputs."""
    rng = np.random.default_rng(seed)
    mix, mx = _pair("mxfp4+r4grad", "mxfp4", seed)
    x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
    ctx = _ctx(**cfg)
    y = mix.forward(x, ctx)
    assert np.array_equal(y, mx.forward(x, _ctx(**cfg))), seed
    assert np.array_equal(y, _mx(x, 1) @ _mx(mix.params["w"], 1).T + mix.params["b"]), seed
    dy = (rng.standard_normal((BATCH, N_OUT)) * 1e-2).astype(np.float32)
    dx = mix.backward(dy, ctx)
    c = ctx.config
    dy16 = dy.astype(np.float16)
    g = grad_scale_exp(dy16)
    g1 = g - 2 if c.tpr and c.phase1_scale == "shift-up" else g
    p1 = 1 if c.tpr else 0

    def r4(phase, g):
        codes = r4_quantize(dy16, phase=phase, scale_exp=g, rounding=c.rounding,
                            seed=_seed(phase, c.rounding))
        return r4_decode(codes, phase=phase, scale_exp=g).astype(np.float32)

    assert np.array_equal(mix.grads["w"], r4(0, g).T @ _mx(x, 0)), seed
    assert np.array_equal(dx, r4(p1, g1) @ _mx(mix.params["w"], 0)), seed
    assert ctx.stats["grad_quantized"] == (2 if c.tpr else 1) * dy.size


def test_mixes_are_the_same_on_either_backend(seed):
    """The backend serves the mixes' q4 GEMMs and R4 quantizer: the reference functions give
    the same arrays as the table backend."""
    rng = np.random.default_rng(seed)
    dy = (rng.standard_normal((BATCH, N_OUT)) * 1e-3).astype(np.float32)
    xs = {"q4+mxfp4grad": QAct(rng.integers(0, 16, (BATCH, N_IN)).astype(np.uint8), 0.2),
          "mxfp4+r4grad": rng.standard_normal((BATCH, N_IN)).astype(np.float32)}
    for p, x in xs.items():
        a, b = _pair(p, p, seed)
        ya, yb = a.forward(x, _ctx()), b.forward(x, _ctx(NumpyBackend()))
        dxa = a.backward(dy, _ctx())
        dxb = b.backward(dy, _ctx(NumpyBackend()))
        assert np.array_equal(ya, yb) and np.array_equal(dxa, dxb), (p, seed)
        assert np.array_equal(a.grads["w"], b.grads["w"]), (p, seed)


@pytest.mark.parametrize("precision", list(MIXES))
def test_mixes_take_any_layer_shape_and_refuse_bad_gradients(precision):
    """Odd sizes (MXFP4 blocks zero-padded), Conv2d, and NaN / FP16-overflowing gradients."""
    rng = np.random.default_rng(0)
    q4_in = split_precision(precision)[0] == "q4"
    ctx = _ctx()
    fc = Linear("fc", 5, 7, precision=precision, rng=rng)
    x = (QAct(rng.integers(0, 16, (3, 5)).astype(np.uint8), 0.5) if q4_in
         else rng.standard_normal((3, 5)).astype(np.float32))
    y = fc.forward(x, ctx)
    dx = fc.backward(np.ones_like(y), ctx)
    assert y.shape == (3, 7) and dx.shape == (3, 5) and fc.grads["w"].shape == (7, 5)
    conv = Conv2d("conv", 2, 4, precision=precision, rng=rng)
    xc = (QAct(rng.integers(0, 16, (2, 2, 5, 5)).astype(np.uint8), 0.5) if q4_in
          else rng.standard_normal((2, 2, 5, 5)).astype(np.float32))
    yc = conv.forward(xc, ctx)
    assert yc.shape == (2, 4, 5, 5)
    assert conv.backward(np.ones_like(yc), ctx).shape == (2, 2, 5, 5)
    bad = np.ones_like(y)
    bad[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        fc.backward(bad, ctx)
    with pytest.raises(ValueError, match="gradient shape"):
        fc.backward(np.ones((3, 6), np.float32), ctx)
    if split_precision(precision)[1] == "r4":
        with pytest.raises(FloatingPointError, match="overflows FP16"):
            fc.backward(np.full_like(y, 7e4), ctx)
    if q4_in:
        with pytest.raises(TypeError, match="UINT4 activation codes"):
            fc.forward(np.zeros((3, 5), np.float32), ctx)


@pytest.mark.parametrize("precision,match", [
    ("q4+r4grad", "that is precision 'q4' itself"),
    ("mxfp4+mxfp4grad", "that is precision 'mxfp4' itself"),
    ("nvfp4+r4grad", "not a mix the layers build"),
    ("fp32+mxfp4grad", "not a mix the layers build"),
    ("q4+fp8grad", "not a mix the layers build"),
    ("q4+mxfp4", "precision must be one of"),
    (None, "precision must be one of")])
def test_combinations_that_make_no_sense_are_errors(precision, match):
    with pytest.raises(ValueError, match=match):
        Linear("fc", 2, 2, precision=precision, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="policy must be one of"):
        build_model("mlp", precision, np.random.default_rng(0))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("policy,act", [("q4+mxfp4grad", Pact), ("mxfp4+r4grad", Relu)])
def test_mix_policies_keep_edges_fp32_and_take_the_forwards_activations(model, policy, act):
    net = build_model(model, policy, np.random.default_rng(0))
    gemms = [l for l in net.layers if hasattr(l, "precision")]
    assert [g.precision for g in gemms] == ["fp32"] + [policy] * (len(gemms) - 2) + ["fp32"]
    acts = [l for l in net.layers if isinstance(l, (Pact, Relu))]
    assert acts and all(isinstance(l, act) for l in acts)


def test_quantize_last_input_follows_the_forward():
    net = build_model("mlp", "mxfp4+r4grad", np.random.default_rng(0), quantize_last_input=True)
    assert isinstance(net.layers[-2], BlockQuant) and net.layers[-2].fmt == "mxfp4"
    with pytest.raises(ValueError, match="policies with an FP4 forward"):
        build_model("mlp", "q4+mxfp4grad", np.random.default_rng(0), quantize_last_input=True)


def test_shootout_runs_the_mixes_when_named(tmp_path):
    shootout.main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs",
                   "1", "--formats", "q4+mxfp4grad,mxfp4+r4grad"])
    report = json.loads((tmp_path / "formats.json").read_text())
    assert [r["policy"] for r in report["runs"]] == ["fp32", "q4+mxfp4grad", "mxfp4+r4grad"]
    md = (tmp_path / "formats.md").read_text()
    rows = {p: next(l for l in md.splitlines() if shootout.LABELS[p] in l) for p in MIXES}
    # Each mix's counters are its gradient quantizer's: MXFP4 counts underflow, R4 does not.
    assert not rows["q4+mxfp4grad"].endswith("| not counted |")
    assert rows["mxfp4+r4grad"].endswith("| not counted |")
    runs = {r["policy"]: r for r in report["runs"]}
    assert runs["q4+mxfp4grad"]["alphas"] and not runs["mxfp4+r4grad"]["alphas"]
    assert runs["mxfp4+r4grad"]["stats"]["fmt_elements"] > 0


def test_shootout_refuses_a_mix_that_is_not_built(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        shootout.main(["--out", str(tmp_path), "--formats", "q4+r4grad"])
    assert info.value.code == 2 and "--formats must name" in capsys.readouterr().err
