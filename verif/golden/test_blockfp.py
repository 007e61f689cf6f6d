"""Block-scaled FP4 in training: nn.blockfp against ml_dtypes, the layers' operand axes, the
policies and the shoot-out command (docs/training.md, "Format shoot-out")."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from experiments import shootout
from experiments.models import build_model
from nn import Conv2d, Linear, Pact, QuantConfig, Relu, StepContext
from nn.blockfp import block_quantize
from golden.backend import TableBackend

SEED = 20261202


def _mx_reference(v: np.ndarray, axis: int) -> np.ndarray:
    """MXFP4 nearest by ml_dtypes, blocks of 32 along ``axis`` (zero-padded): X =
    2^(floor(log2 amax) - 2), elements float4_e2m1fn(v / X) clamped to +-6."""
    m = np.moveaxis(v.astype(np.float64), axis, -1)
    n = m.shape[-1]
    padded = np.zeros(m.shape[:-1] + (-(-n // 32) * 32,))
    padded[..., :n] = m
    b = padded.reshape(m.shape[:-1] + (-1, 32))
    amax = np.abs(b).max(axis=-1, keepdims=True)
    x = np.where(amax > 0, 2.0 ** (np.floor(np.log2(np.where(amax > 0, amax, 1))) - 2), 1.0)
    q = np.clip(b / x, -6, 6).astype(ml_dtypes.float4_e2m1fn).astype(np.float64) * x
    return np.moveaxis(q.reshape(padded.shape)[..., :n], -1, axis).astype(np.float32)


@pytest.mark.parametrize("shape,axis", [((6, 64), 1), ((64, 6), 0), ((5, 40), 1),
                                        ((45, 3), 0), ((1, 1), 1)])
def test_mxfp4_operands_equal_an_ml_dtypes_reference_padding_included(shape, axis):
    rng = np.random.default_rng(SEED)
    v = (rng.standard_normal(shape) * np.exp2(rng.integers(-12, 12, shape))).astype(np.float32)
    assert np.array_equal(block_quantize(v, "mxfp4", axis), _mx_reference(v, axis)), SEED


def test_counters_count_what_they_say():
    # One block of 32 along axis 1: amax 7 gives X = 1, so 6.5 and 7 saturate to 6, and
    # 0.2 (below half of the least step 0.5) underflows to 0; the zeros count as neither.
    v = np.zeros((1, 32), np.float32)
    v[0, :5] = [7, -6.5, 0.2, -0.2, 3]
    stats = {}
    q = block_quantize(v, "mxfp4", 1, stats=stats)
    assert q[0, :5].tolist() == [6, -6, 0, 0, 3]
    assert stats == {"fmt_elements": 32, "fmt_saturated": 2, "fmt_underflow": 2}


def test_nvfp4_rounds_nearest_and_stochastic_is_seeded_and_unbiased():
    rng = np.random.default_rng(SEED)
    v = rng.standard_normal((64, 48)).astype(np.float32)
    near = block_quantize(v, "nvfp4", 1)
    assert np.array_equal(near, block_quantize(v, "nvfp4", 1)), "nearest is deterministic"
    draws = [block_quantize(v, "nvfp4", 1, rounding="stochastic", seed=s) for s in range(1, 201)]
    assert np.array_equal(draws[2], block_quantize(v, "nvfp4", 1, rounding="stochastic",
                                                   seed=3))
    assert not np.array_equal(draws[0], draws[1])
    # Unbiased: the mean over 200 seeds is closer to v than nearest rounding is, on average.
    assert np.abs(np.mean(draws, axis=0) - v).mean() < 0.5 * np.abs(near - v).mean(), SEED


@pytest.mark.parametrize("fmt,axis,match", [("fp8", 1, "fmt must be one of"),
                                            ("mxfp4", 2, "2-D array and axis 0 or 1")])
def test_bad_formats_and_axes_are_errors(fmt, axis, match):
    with pytest.raises(ValueError, match=match):
        block_quantize(np.zeros((2, 32), np.float32), fmt, axis)


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4"])
def test_linear_quantizes_each_operand_along_its_gemms_reduction_axis(fmt):
    """Y = q(X, features) q(W, inputs)^T + b; dW = q(dY, batch)^T q(X, batch);
    dX = q(dY, outputs) q(W, outputs), dY by the configured rounding and its seeds."""
    rng = np.random.default_rng(SEED)
    layer = Linear("fc", 40, 24, precision=fmt, rng=rng)
    layer.params["b"] = rng.standard_normal(24).astype(np.float32)
    x = rng.standard_normal((36, 40)).astype(np.float32)
    dy = rng.standard_normal((36, 24)).astype(np.float32)
    ctx = StepContext(TableBackend(), QuantConfig(), run_seed=3)
    w = layer.params["w"]
    y = layer.forward(x, ctx)
    assert np.array_equal(y, block_quantize(x, fmt, 1) @ block_quantize(w, fmt, 1).T
                          + layer.params["b"])
    dx = layer.backward(dy, ctx)
    s0, s1 = layer._grad_seed(ctx, 0), layer._grad_seed(ctx, 1)
    d0 = block_quantize(dy, fmt, 0, rounding="stochastic", seed=s0)
    d1 = block_quantize(dy, fmt, 1, rounding="stochastic", seed=s1)
    assert np.array_equal(layer.grads["w"], d0.T @ block_quantize(x, fmt, 0))
    assert np.array_equal(dx, d1 @ block_quantize(w, fmt, 0))
    assert ctx.stats["fmt_underflow"] > 0


def test_conv2d_takes_a_block_format_and_rejects_nan_gradients():
    rng = np.random.default_rng(SEED)
    conv = Conv2d("conv", 16, 8, precision="mxfp4", rng=rng)
    ctx = StepContext(TableBackend(), QuantConfig(), run_seed=1)
    y = conv.forward(rng.standard_normal((2, 16, 5, 5)).astype(np.float32), ctx)
    assert y.shape == (2, 8, 5, 5) and np.isfinite(y).all()
    dy = np.zeros_like(y)
    dy[0, 0, 0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        conv.backward(dy, ctx)


@pytest.mark.parametrize("policy", ["mxfp4", "nvfp4"])
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_format_policies_keep_first_and_last_layers_fp32_and_use_relu(model, policy):
    net = build_model(model, policy, np.random.default_rng(0))
    gemms = [l for l in net.layers if hasattr(l, "precision")]
    assert [g.precision for g in gemms] == ["fp32"] + [policy] * (len(gemms) - 2) + ["fp32"]
    assert not any(isinstance(l, Pact) for l in net.layers)
    assert any(isinstance(l, Relu) for l in net.layers)


def test_shootout_writes_a_row_per_scheme_with_its_counters(tmp_path):
    shootout.main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs",
                   "1"])
    report = json.loads((tmp_path / "formats.json").read_text())
    assert [r["policy"] for r in report["runs"]] == ["fp32", "q4", "mxfp4", "nvfp4"]
    md = (tmp_path / "formats.md").read_text()
    for f in shootout.FORMAT_POLICIES:
        assert f"| mlp | {shootout.LABELS[f]} |" in md
    q4_row = next(l for l in md.splitlines() if "(paper)" in l)
    assert q4_row.endswith("| not counted |")
    mx = next(r for r in report["runs"] if r["policy"] == "mxfp4")
    assert mx["stats"]["fmt_saturated"] > 0 and mx["stats"]["fmt_underflow"] > 0


@pytest.mark.parametrize("argv,match", [(["--formats", "q4,fp8"], "--formats must name"),
                                        (["--models", "mlp,mlp"], "--models must name"),
                                        (["--data-dir", "x"], "only used with --dataset")])
def test_shootout_refuses_bad_arguments(argv, match, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        shootout.main(["--out", str(tmp_path)] + argv)
    assert info.value.code == 2 and match in capsys.readouterr().err


def test_quantize_last_input_puts_a_block_quantizer_before_the_last_layer():
    net = build_model("mlp", "mxfp4", np.random.default_rng(0), quantize_last_input=True)
    assert [type(l).__name__ for l in net.layers[-2:]] == ["BlockQuant", "Linear"]
    ctx = StepContext(TableBackend(), QuantConfig(), run_seed=1)
    x = np.random.default_rng(SEED).standard_normal((4, 40)).astype(np.float32)
    q = net.layers[-2]
    assert np.array_equal(q.forward(x, ctx), block_quantize(x, "mxfp4", 1))
    assert q.backward(x, ctx) is x                    # the gradient passes straight through
    with pytest.raises(ValueError, match="for the policies with an FP4 forward"):
        build_model("mlp", "q4", np.random.default_rng(0), quantize_last_input=True)


def test_shootout_with_quantized_last_input_names_its_reports(tmp_path):
    shootout.main(["--out", str(tmp_path), "--models", "mlp", "--seeds", "1", "--epochs",
                   "1", "--formats", "mxfp4", "--quantize-last-input"])
    report = json.loads((tmp_path / "formats_lastq.json").read_text())
    assert report["quantize_last_input"] is True
    assert [r["quantize_last_input"] for r in report["runs"]] == [False, True]
