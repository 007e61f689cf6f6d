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
from golden import mx
from golden.backend import TableBackend
from golden.fp4 import (E2M1_MAGNITUDES, E4M3_MAGNITUDES, e2m1_decode, e2m1_quantize, e2m1_round,
                        round_to_grid, stochastic_draws)
from golden.mx import mxfp4_dequantize, mxfp4_quantize, nvfp4_dequantize, nvfp4_quantize

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


@pytest.mark.parametrize("rounding,seed,match", [
    ("stochastik", None, "rounding must be one of"), ("Nearest", None, "rounding must be one of"),
    ("nearest", 7, "seed is only meaningful"), ("stochastic", 0, "seed")])
def test_bad_roundings_and_seeds_are_errors(rounding, seed, match):
    with pytest.raises(ValueError, match=match):
        block_quantize(np.zeros((2, 32), np.float32), "mxfp4", 1, rounding=rounding, seed=seed)


def test_signalling_nans_and_python_float_units_are_taken_quietly():
    """A float32 signalling NaN is data (its block is NaN, no warning); e2m1_round takes a
    Python float unit as the float64 it stands for."""
    v = np.zeros((1, 32), np.float32)
    v.view(np.uint32)[0, 3] = 0x7F800001                   # signalling NaN
    with np.errstate(all="raise"):
        out = block_quantize(v, "mxfp4", 1)
    assert np.isnan(out).all()
    x = np.array([0.25, 0.75, 5.0, -7.0])
    assert np.array_equal(e2m1_round(x, 1.0, "nearest", None),
                          e2m1_round(x, np.float64(1.0), "nearest", None))


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


# --------------------------------------------------------------------------- fast path = reference


def _reference_e2m1_round(v, unit, rounding, draws):
    """golden.fp4.e2m1_round as it was before its E2M1 fast path: round_to_grid's search."""
    with np.errstate(invalid="ignore"):             # signalling NaNs (FP16 patterns)
        v = np.asarray(v, dtype=np.float64)
    nan = np.isnan(v)
    mag = np.where(nan, 0.0, np.minimum(np.abs(v), np.finfo(np.float64).max))
    safe_unit = np.where(unit > 0, unit, 1.0)
    idx = round_to_grid(mag, safe_unit, E2M1_MAGNITUDES, rounding=rounding, draws=draws)
    idx = np.where(unit > 0, idx, 0)
    sign = np.signbit(v) & ~nan
    return ((sign.astype(np.uint8) << 3) | idx.astype(np.uint8)).astype(np.uint8)


def _hard_elements() -> np.ndarray:
    """FP32 elements for unit 1 and 3/4: every FP16 pattern (NaN, Inf, subnormals, -0), each
    grid point and midpoint times the unit with its FP32 neighbours, and saturating values."""
    fp16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    points = np.concatenate([E2M1_MAGNITUDES, (E2M1_MAGNITUDES[:-1] + E2M1_MAGNITUDES[1:]) / 2,
                             [6.5, 7, 7.99, 8, 1e30]])
    pts = np.concatenate([points, points * 0.75]).astype(np.float32)
    near = np.concatenate([pts, np.nextafter(pts, np.float32(0)),
                           np.nextafter(pts, np.float32(np.inf))])
    big = np.array([np.finfo(np.float32).max, np.finfo(np.float32).tiny, 2.0 ** -149],
                   np.float32)
    x = np.concatenate([fp16, near, big])
    return np.concatenate([x, -x])


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_e2m1_fast_rounding_equals_the_grid_search_reference(rounding):
    """Every hard element against units 2^e (MXFP4) and s_block * S (NVFP4, not powers of two)
    that put it in every binade of the grid, and 0; random FP32 too, draws including 0 and
    2^16 - 1."""
    rng = np.random.default_rng(SEED)
    x = np.concatenate([_hard_elements(), (rng.standard_normal(1 << 14)
                        * np.exp2(rng.integers(-140, 120, 1 << 14))).astype(np.float32)])
    s = np.float64(np.float32(rng.random() * 1e-3))
    units = np.concatenate([np.exp2([-127.0, -30, -3, -1, 0, 1, 2, 5, 14, 60, 125]),
                            E4M3_MAGNITUDES[[1, 7, 9, 13, 56, 100, 126]] * s,
                            [E4M3_MAGNITUDES[45] * 2.0 ** -149, 0.0]])
    v, unit = np.broadcast_arrays(x[None, :], units[:, None])
    draws = None
    if rounding == "stochastic":
        draws = rng.integers(0, 1 << 16, v.shape)
        draws[:, ::7], draws[:, 3::7] = 0, (1 << 16) - 1
    for held in (np.float64, np.float32):
        with np.errstate(invalid="ignore"):
            got = e2m1_round(v.astype(held), unit, rounding, draws)
        assert np.array_equal(got, _reference_e2m1_round(v, unit, rounding, draws)), held
    # The element quantizer and its decode: one element, one unit, the default stream.
    assert np.array_equal(e2m1_quantize(x, rounding=rounding),
                          _reference_e2m1_round(x, 1.0, rounding, stochastic_draws(
                              rounding, None, x.shape)))
    assert np.array_equal(e2m1_decode(np.arange(16)).view(np.int64),
                          (np.where(np.arange(16) >= 8, -1, 1)
                           * E2M1_MAGNITUDES[np.arange(16) % 8]).view(np.int64))


def _round_trip(v, fmt, axis, rounding, seed):
    """block_quantize's results the long way: public quantize, dequantize, float32, counts."""
    if fmt == "mxfp4":
        t = mxfp4_quantize(v, axis=axis, rounding=rounding, seed=seed)
        out = mxfp4_dequantize(t.codes, t.scales, axis=axis)
    else:
        t = nvfp4_quantize(v, axis=axis, rounding=rounding, seed=seed)
        out = nvfp4_dequantize(t.codes, t.scales, t.tensor_scale, axis=axis)
    out = out.astype(np.float32)
    sat = np.count_nonzero(((t.codes & 7) == 7) & (np.abs(v) > np.abs(out)))
    return t.codes, out, sat, np.count_nonzero((out == 0) & (v != 0))


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4"])
@pytest.mark.parametrize("rounding,seed", [("nearest", None), ("stochastic", 7),
                                           ("stochastic", 0xFFFFFFFF)])
def test_block_fast_path_equals_the_round_trip_bit_for_bit(fmt, rounding, seed, monkeypatch):
    """golden.mx.quantize_values against quantize -> dequantize -> float32 with the
    reference element rounding: codes, value bits (signed zeros, NaN), strides and counts, on
    random tensors with zero, tied, tiny, huge, NaN and Inf blocks, both axes, several chunks."""
    rng = np.random.default_rng(SEED)
    for shape, axis in [((64, 96), 1), ((96, 40), 0), ((1184, 64), 0), ((3, 4096), 1)]:
        v = (rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, shape)))
        v = v.astype(np.float32)
        lead = [slice(None)] * 2
        lead[1 - axis] = 1
        v[tuple(lead)] = 0
        lead[1 - axis] = 2                           # ties: MXFP4 unit 1, midpoints
        v[tuple(lead)] = np.resize([6, 0.25, -0.75, 1.25, -1.75, 2.5, -3.5, 5], shape[axis])
        v.flat[5] = np.float32(2.0 ** -140)
        v.flat[-3] = -0.0
        if shape[0] > 90:
            v.flat[7], v.flat[-40], v.flat[200] = np.nan, np.inf, -np.inf
            v.flat[300:310] = np.float32(3e38)
        got = mx.quantize_values(v, fmt, axis, rounding, seed)
        with monkeypatch.context() as m:
            m.setattr(mx, "e2m1_round", _reference_e2m1_round)
            want = _round_trip(v, fmt, axis, rounding, seed)
        assert np.array_equal(got[0], want[0]), (shape, axis)
        assert np.array_equal(got[1].view(np.uint32), want[1].view(np.uint32)), (shape, axis)
        assert got[1].strides == want[1].strides and got[2:] == want[2:], (shape, axis)
