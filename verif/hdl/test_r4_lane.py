# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the R4 quantizer lane against golden.formats.r4_quantize.

Fast and sampled: the exhaustive sweeps run on the generated Verilog (verif/rtl). Here a few
hundred FP16 patterns per configuration, chosen to hit every region (zero, subnormals, each
level boundary, saturation, NaN/Inf), stream through the lane with random valid gaps and
random backpressure. The unrolled generator is checked against golden's draw stream.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.formats import DEFAULT_SEED, r4_quantize, xorshift32_stream
from hdl.gradient_unit import GradientUnit
from hdl.r4_quantizer import R4QuantizerLane
from hdl.xorshift import Xorshift32
from verif.lib.sim_streams import simulate, stream_through

SPECIAL = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00,
           0x7C01, 0xFE00, 0x3C00, 0xBC00, 0x3D00, 0x3CFF, 0x4100, 0x40FF, 0x5400, 0x5401,
           0x2000, 0x1FFF, 0x1C00, 0x1E00]


def sample_patterns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Special patterns plus random ones (uniform over all 65536 bit patterns)."""
    rand = rng.integers(0, 2 ** 16, size=n, dtype=np.int64)
    return np.concatenate([np.array(SPECIAL, dtype=np.int64), rand]).astype(np.uint16)


def run_lane(patterns, configs, *, seed, seed_value=None, stall=0.3):
    """Stream ``patterns`` once per config (phase, scale_exp, stochastic); return outputs.

    Returns one (codes, invalid, saturated) triple per config and the final saturation count.
    """
    dut = R4QuantizerLane()
    rnd = random.Random(seed)
    results = []
    sat_count = []

    async def testbench(ctx):
        if seed_value is not None:
            ctx.set(dut.seed, seed_value)
            ctx.set(dut.seed_load, 1)
            await ctx.tick()
            ctx.set(dut.seed_load, 0)
        for phase, scale_exp, stochastic in configs:
            ctx.set(dut.phase, phase)
            ctx.set(dut.scale_exp, scale_exp)
            ctx.set(dut.stochastic, stochastic)
            got = await stream_through(ctx, dut.i, dut.o, [int(p) for p in patterns], rnd=rnd,
                                       stall=stall)
            results.append((np.array([p.code for p in got], dtype=np.uint8),
                            np.array([p.invalid for p in got], dtype=bool),
                            np.array([p.saturated for p in got], dtype=bool)))
        await ctx.tick().repeat(2)      # a delivered beat is in the count two cycles later
        sat_count.append(ctx.get(dut.sat_count))

    simulate(dut, testbench)
    return results, sat_count[0]


#: (phase, scale_exp, stochastic); g = 22 brings the subnormals into range with nearest
#: rounding, so their decoding is checked without depending on the draws.
CONFIGS = [(0, 0, 0), (1, 0, 0), (0, 7, 0), (1, -128, 0), (0, 127, 0), (1, 3, 1), (0, -9, 1),
           (0, 20, 1), (1, 22, 0)]


def test_lane_matches_golden(seed):
    rng = np.random.default_rng(seed)
    patterns = sample_patterns(rng, 120)
    x = patterns.view(np.float16)
    results, sat_count = run_lane(patterns, CONFIGS, seed=seed)
    drawn = 0
    expected_sat = 0
    for (phase, g, stochastic), (codes, invalid, saturated) in zip(CONFIGS, results):
        if stochastic:
            # The generator keeps running across configurations: the draws of this block are
            # the ones after all earlier stochastic elements.
            prefix = np.zeros(drawn, dtype=np.float16)
            ref = r4_quantize(np.concatenate([prefix, x]), phase=phase, scale_exp=g,
                              rounding="stochastic", flags=True)
            ref = type(ref)(*(a[drawn:] for a in ref))
            drawn += x.size
        else:
            ref = r4_quantize(x, phase=phase, scale_exp=g, flags=True)
        np.testing.assert_array_equal(codes, ref.codes, err_msg=f"codes {phase, g, stochastic}")
        np.testing.assert_array_equal(invalid, ref.invalid)
        np.testing.assert_array_equal(saturated, ref.saturated)
        expected_sat += int(ref.saturated.sum())
    assert sat_count == expected_sat


@pytest.mark.parametrize("seed_value", [1, 0xDEADBEEF])
def test_seed_load(seed, seed_value):
    rng = np.random.default_rng(seed)
    patterns = sample_patterns(rng, 60)
    (codes, _, _), = run_lane(patterns, [(0, 2, 1)], seed=seed, seed_value=seed_value)[0]
    ref = r4_quantize(patterns.view(np.float16), phase=0, scale_exp=2, rounding="stochastic",
                      seed=seed_value)
    np.testing.assert_array_equal(codes, ref)



@pytest.mark.parametrize("steps", [1, 3, 8])
def test_unrolled_generator_is_golden_stream(steps):
    """Draw k of advance b is golden's draw b*steps + k; holding and seed loads as documented."""
    dut = Xorshift32(steps)
    seen = []

    async def testbench(ctx):
        for advance in (1, 1, 0, 1):
            seen.append([int(d) for d in ctx.get(dut.draws)])
            ctx.set(dut.advance, advance)
            await ctx.tick()
        ctx.set(dut.seed, 12345)
        ctx.set(dut.seed_load, 1)
        await ctx.tick()
        ctx.set(dut.seed_load, 0)
        seen.append([int(d) for d in ctx.get(dut.draws)])

    simulate(dut, testbench)
    ref = xorshift32_stream(DEFAULT_SEED, 3 * steps).reshape(3, steps)
    assert seen[:4] == [ref[0].tolist(), ref[1].tolist(), ref[2].tolist(), ref[2].tolist()]
    assert seen[4] == xorshift32_stream(12345, steps).tolist()


@pytest.mark.parametrize("bad", [0, -2, 4.0, True, "4"])
def test_parallel_forms_reject_bad_counts(bad):
    with pytest.raises(TypeError, match="lanes must be a positive integer"):
        GradientUnit(bad)
    with pytest.raises(TypeError, match="steps must be a positive integer"):
        Xorshift32(bad)
