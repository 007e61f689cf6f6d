"""cocotb testbench of the standalone ``r4_quantizer`` lane (driven by test_r4_quantizer.py).

Environment:
    R4_PATTERNS   path of a .npy file with the uint16 FP16 patterns streamed per block
    R4_BLOCKS     JSON list of blocks {"phase", "scale_exp", "stochastic", "seed"}; a
                  stochastic block with seed null continues the generator (the first one
                  after reset therefore checks the reset value, golden's DEFAULT_SEED); an
                  optional "ascending": true streams the patterns in ascending order instead of
                  the file's, so that with a constant seed the block is the same in every run
    TB_SEED       seed of the random valid gaps and backpressure
    TB_STALL      probability of an idle input cycle and of a not-ready output cycle

Every block streams all patterns with random gaps and backpressure; codes, both flags and the
saturation count are compared with golden.formats.r4_quantize as whole arrays.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hdl.r4_quantizer import R4_OUT_LAYOUT
from verif.lib.cocotb_streams import pulse, reset, stream_through
from verif.lib.gradients import GoldenQuantizer
from verif.lib.payload import field


@cocotb.test()
async def lane_matches_golden(dut):
    patterns = np.load(os.environ["R4_PATTERNS"]).astype(np.uint16)
    blocks = json.loads(os.environ["R4_BLOCKS"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} patterns={patterns.size} "
                  f"blocks={len(blocks)}")
    rnd = random.Random(tb_seed)
    in_order = {False: patterns, True: np.sort(patterns)}

    await reset(dut, idle=("i__valid", "o__ready", "seed_load", "sat_clear", "seed"))

    golden = GoldenQuantizer()
    for block in blocks:
        phase, g, stochastic = block["phase"], block["scale_exp"], block["stochastic"]
        if stochastic and block["seed"] is not None:
            dut.seed.value = block["seed"]
            await pulse(dut, "seed_load")
            golden.load(block["seed"])
        dut.phase.value = phase
        dut.scale_exp.value = g & 0xFF
        dut.stochastic.value = stochastic
        bits = in_order[block.get("ascending", False)]
        x = bits.view(np.float16)
        got = np.array(await stream_through(dut, bits, rnd=rnd, stall=stall), dtype=np.int64)
        ref = golden.quantize(x, phase=phase, scale_exp=g, stochastic=stochastic)
        what = f"block {block}"
        np.testing.assert_array_equal(field(got, R4_OUT_LAYOUT, "code"), ref.codes,
                                      err_msg=f"codes, {what}")
        np.testing.assert_array_equal(field(got, R4_OUT_LAYOUT, "invalid"), ref.invalid,
                                      err_msg=f"invalid, {what}")
        np.testing.assert_array_equal(field(got, R4_OUT_LAYOUT, "saturated"), ref.saturated,
                                      err_msg=f"saturated, {what}")
        await FallingEdge(dut.clk)
        assert int(dut.sat_count.value) == int(ref.saturated.sum()), f"sat_count, {what}"
        await pulse(dut, "sat_clear")
        assert int(dut.sat_count.value) == 0
        dut._log.info(f"{what}: {x.size} elements equal to golden")
