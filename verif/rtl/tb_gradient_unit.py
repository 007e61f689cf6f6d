"""cocotb testbench of the N-lane gradient unit (driven by verif/rtl/test_gradient_unit.py).

Environment:
    GU_PATTERNS  .npy of uint16 FP16 patterns (a multiple of the lane count), streamed per block
    GU_BLOCKS    JSON list of blocks {"phase", "scale_exp", "stochastic", "seed", "finite"};
                 seed null continues the generator; "finite" streams only the finite patterns
    GU_LANES     lanes of the design
    TB_SEED, TB_STALL  random valid gaps and backpressure

Per block: codes, flags and phase against golden.formats.r4_quantize on the flattened stream
(draw b*N + k for lane k of beat b), the saturation count, and the amax tracker's amax and
next exponent against golden.formats.grad_scale_exp (finite blocks; a block with NaN/Inf must
raise ``nonfinite`` and track the finite elements only).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from golden.formats import grad_scale_exp
from verif.lib.cocotb_streams import pulse, reset, stream_through
from verif.lib.gradients import GoldenQuantizer, pack_beats, unpack_codes


@cocotb.test()
async def gradient_unit_matches_golden(dut):
    patterns = np.load(os.environ["GU_PATTERNS"]).astype(np.uint16)
    blocks = json.loads(os.environ["GU_BLOCKS"])
    lanes = int(os.environ["GU_LANES"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} lanes={lanes} patterns={patterns.size}")
    rnd = random.Random(tb_seed)
    finite_patterns = patterns[(patterns & 0x7C00) != 0x7C00]
    finite_patterns = finite_patterns[:finite_patterns.size // lanes * lanes]

    await reset(dut, idle=("i_grad__valid", "o_codes__ready", "seed_load", "sat_clear",
                           "amax_clear", "seed"))

    golden = GoldenQuantizer()
    for block in blocks:
        phase, g, stochastic = block["phase"], block["scale_exp"], block["stochastic"]
        bits = finite_patterns if block["finite"] else patterns
        x = bits.view(np.float16)
        if stochastic and block["seed"] is not None:
            dut.seed.value = block["seed"]
            await pulse(dut, "seed_load")
            golden.load(block["seed"])
        await pulse(dut, "amax_clear")
        dut.phase.value = phase
        dut.scale_exp.value = g & 0xFF
        dut.stochastic.value = stochastic
        got = await stream_through(dut, pack_beats(bits, lanes), rnd=rnd, stall=stall,
                                   i="i_grad", o="o_codes")
        (code, invalid, saturated), got_phase = unpack_codes(got, lanes)
        ref = golden.quantize(x, phase=phase, scale_exp=g, stochastic=stochastic)
        what = f"block {block}"
        np.testing.assert_array_equal(code, ref.codes, err_msg=f"codes, {what}")
        np.testing.assert_array_equal(invalid, ref.invalid, err_msg=f"invalid, {what}")
        np.testing.assert_array_equal(saturated, ref.saturated, err_msg=f"saturated, {what}")
        assert (got_phase == phase).all(), what

        await FallingEdge(dut.clk)
        assert int(dut.sat_count.value) == int(ref.saturated.sum()), f"sat_count, {what}"
        finite = x[np.isfinite(x)]
        amax = int(np.abs(finite).max().view(np.uint16)) if finite.size else 0
        assert int(dut.amax.value) == amax, f"amax, {what}"
        expect_g = grad_scale_exp(finite) if finite.size else 0
        got_g = int(dut.next_scale_exp.value)
        got_g = got_g - 256 if got_g >= 128 else got_g
        assert got_g == expect_g, f"next_scale_exp {got_g} != {expect_g}, {what}"
        assert int(dut.nonfinite.value) == (finite.size != x.size), f"nonfinite, {what}"
        await pulse(dut, "sat_clear")
        dut._log.info(f"{what}: {x.size} elements, amax and exponent equal to golden")
