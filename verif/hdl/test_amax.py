# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the amax tracker against golden.formats.grad_scale_exp.

Finite tensors over every scale (all-zero, subnormal-only, up to 65504) stream through the
tracker, with ``clear`` between tensors and random idle beats; amax must equal max |x| and
the exponent golden's. Idle cycles carry junk payloads (NaN, Inf, anything): the tracker
must watch only beats with ``valid`` high. NaN/Inf are left out of amax and raise
``nonfinite`` (the tracker's documented choice: golden rejects such tensors). The outputs are
read ``LATENCY`` cycles after a tensor's last beat.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.formats import grad_scale_exp
from hdl.amax import AmaxTracker
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import StreamSource, run_streams, simulate


def random_tensor(rng: np.random.Generator, size: int) -> np.ndarray:
    """FP16 patterns whose magnitudes stay below a random bound (finite, any scale)."""
    top = int(rng.integers(0, 0x7C00))
    mags = rng.integers(0, top + 1, size=size)
    signs = rng.integers(0, 2, size=size) << 15
    return (mags | signs).astype(np.uint16)


def tensors_for(rng):
    fixed = [np.zeros(5, np.uint16), np.array([0x8000, 0x0001], np.uint16),
             np.array([0x0200, 0x0100], np.uint16), np.array([0x7BFF, 0x0000], np.uint16),
             np.array([0x5000], np.uint16), np.array([0xD001, 0x1000, 0x0003], np.uint16)]
    return fixed + [random_tensor(rng, int(rng.integers(1, 30))) for _ in range(25)]


def run_tracker(lanes, tensors, *, seed):
    """Stream each tensor (padded with zeros to whole beats) with idle cycles (probability
    0.3, junk payloads), ``clear`` raised with its first beat; read the outputs ``LATENCY``
    cycles after its last beat was accepted."""
    dut = AmaxTracker(lanes)
    rnd = random.Random(seed)
    seen = []

    async def testbench(ctx):
        for t in tensors:
            beats = np.resize(np.concatenate([t, np.zeros(-t.size % lanes, np.uint16)]),
                              (-(-t.size // lanes), lanes))
            source = StreamSource(dut.i, beats.tolist(), rnd=rnd, idle=0.3)

            def clear_with_first_beat(ctx, cycle):
                ctx.set(dut.clear, source.holding and source.sent == 0)

            await run_streams(ctx, [source], [], where="AmaxTracker i",
                              budget=cycle_budget(len(beats), idle=0.3),
                              each_cycle=clear_with_first_beat)
            for _ in range(dut.LATENCY):    # the outputs include the last beat from then on
                source.drive(ctx)           # idle: junk payload
                ctx.set(dut.clear, 0)
                await ctx.tick()
            seen.append((ctx.get(dut.amax), ctx.get(dut.scale_exp), ctx.get(dut.nonfinite)))

    simulate(dut, testbench)
    return seen


@pytest.mark.parametrize("lanes", [1, 4])
def test_amax_and_exponent_match_golden(lanes, seed):
    rng = np.random.default_rng(seed)
    tensors = tensors_for(rng)
    for t, (amax, g, nonfinite) in zip(tensors, run_tracker(lanes, tensors, seed=seed)):
        x = t.view(np.float16)
        assert amax == int(np.abs(x).max().view(np.uint16)), t
        assert g == grad_scale_exp(x), t
        assert not nonfinite


def test_every_magnitude_exponent():
    """Every 97th finite magnitude and the edge cases, one per tensor."""
    tensors = [np.array([v], np.uint16) for v in range(0, 0x7C00, 97)] + [
        np.array([v], np.uint16) for v in (1, 2, 3, 0x3FF, 0x400, 0x7BFF, 0x3C00, 0x3C01)]
    for t, (amax, g, _) in zip(tensors, run_tracker(1, tensors, seed=1)):
        assert amax == int(t[0]) and g == grad_scale_exp(t.view(np.float16)), t


def test_nonfinite_is_flagged_not_tracked():
    tensors = [np.array([0x3C00, 0x7E00, 0xFC00, 0x4000], np.uint16),
               np.array([0x3800], np.uint16)]
    (amax0, g0, bad0), (amax1, _, bad1) = run_tracker(2, tensors, seed=2)
    assert (amax0, g0, bad0) == (0x4000, grad_scale_exp(np.float16(2.0)), 1)
    assert (amax1, bad1) == (0x3800, 0)


@pytest.mark.parametrize("lanes", [0, -1, 2.0, True])
def test_rejects_bad_lanes(lanes):
    with pytest.raises(TypeError, match="lanes must be a positive integer"):
        AmaxTracker(lanes)
