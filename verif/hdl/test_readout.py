# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the read-out converter against golden.gemm.readout.

Corner cases (zero, +-1, powers of two, the extreme accumulators, ties at every rounding
position) under offsets that reach normal results, subnormals, the underflow to zero and the
saturation to 65504, streamed with random gaps and backpressure.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.gemm import readout
from hdl.readout import Readout, ReadoutLanes
from verif.lib.sim_streams import simulate, stream_through
from verif.lib.stimuli import OFFSETS, corner_accs, random_accs


def run_readout(acc_width, blocks, *, seed, stall=0.3):
    dut = Readout(acc_width)
    rnd = random.Random(seed)
    outputs = []

    async def testbench(ctx):
        for offset, accs in blocks:
            ctx.set(dut.exp_offset, offset)
            got = await stream_through(ctx, dut.i, dut.o, [{"acc": int(a)} for a in accs],
                                       rnd=rnd, stall=stall)
            outputs.append((np.array([p.value for p in got], dtype=np.uint16),
                            np.array([p.overflow for p in got], dtype=bool)))

    simulate(dut, testbench)
    return outputs


@pytest.mark.parametrize("acc_width", [18, 32, 48])
def test_readout_matches_golden(acc_width, seed):
    rng = np.random.default_rng(seed)
    accs = np.concatenate([corner_accs(acc_width), random_accs(rng, acc_width, 40)])
    offsets = OFFSETS if acc_width == 32 else (-256, -30, 0, 255)
    blocks = [(off, accs) for off in offsets]
    for (off, acc), (values, overflow) in zip(blocks, run_readout(acc_width, blocks, seed=seed)):
        ref = readout(acc, exp_offset=off, flags=True)
        np.testing.assert_array_equal(values, ref.values.view(np.uint16),
                                      err_msg=f"exp_offset={off}")
        np.testing.assert_array_equal(overflow, ref.overflow, err_msg=f"exp_offset={off}")


@pytest.mark.parametrize("acc_width", [18, 32, 48])
def test_corner_ties_are_ties(acc_width):
    """The tie family of corner_accs: golden lands exactly half an ULP away, on the even side.

    ``exp_offset = -k`` scales ``m * 2^k`` to ``m`` (in [2048, 4096): normal FP16 with an ULP
    of 2), so the rounding error must be exactly 1.
    """
    accs = set(corner_accs(acc_width).tolist())
    top = 2 ** (acc_width - 1)
    for k in range(acc_width - 11):
        for m, rounded in ((2049, 2048), (2051, 2052), (-2053, -2052)):
            if abs(m) * 2 ** k >= top:
                continue
            assert m * 2 ** k in accs
            got = float(readout(np.array([m * 2 ** k]), exp_offset=-k)[0])
            assert got == rounded, f"{m} * 2^{k} -> {got}"


def test_readout_lanes_match_golden(seed):
    """ReadoutLanes: every lane is the read-out of its own element, one exp_offset per beat
    (changed between blocks), under gaps with junk payload and backpressure."""
    lanes, acc_width = 3, 32
    dut = ReadoutLanes(acc_width, lanes)
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    accs = np.concatenate([corner_accs(acc_width), random_accs(rng, acc_width, 40)])
    accs = np.concatenate([accs, np.zeros(-accs.size % lanes, dtype=accs.dtype)])
    rows = rng.permutation(accs).reshape(-1, lanes)
    blocks = [(off, rows) for off in (-40, -7, 0, 20)]
    outputs = []

    async def testbench(ctx):
        for offset, block in blocks:
            ctx.set(dut.exp_offset, offset)
            got = await stream_through(ctx, dut.i, dut.o, [[int(a) for a in row] for row in block],
                                       rnd=rnd, stall=0.3)
            outputs.append(got)

    simulate(dut, testbench)
    for (off, block), got in zip(blocks, outputs):
        ref = readout(block, exp_offset=off, flags=True)
        values = np.array([[p[k].value for k in range(lanes)] for p in got], dtype=np.uint16)
        overflow = np.array([[p[k].overflow for k in range(lanes)] for p in got], dtype=bool)
        np.testing.assert_array_equal(values, ref.values.view(np.uint16), err_msg=f"{off}")
        np.testing.assert_array_equal(overflow, ref.overflow, err_msg=f"exp_offset={off}")


@pytest.mark.parametrize("acc_width", [17, 49, 32.0, True])
def test_readout_rejects_bad_width(acc_width):
    with pytest.raises((TypeError, ValueError)):
        Readout(acc_width)
