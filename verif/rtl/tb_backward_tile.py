"""cocotb testbench of the end-to-end backward tile (driven by verif/rtl/test_backward_tile.py).

Environment:
    BT_ROWS, BT_COLS, BT_ACC_WIDTH  design parameters
    BT_BLOCKS  JSON list of blocks {"a_format", "phase", "scale_exp", "stochastic", "seed",
               "tiles", "k", "spread"}: ``tiles`` tiles of depth ``k``; dY values are
               normal samples times 2^-scale_exp (exponent clipped to -6..20 so dY stays
               finite) with a random per-tile exponent spread (at most 6);
               scale_exp null uses golden's GradScale exponent of the block (current mode)
    TB_SEED, TB_STALL  data, random valid gaps and backpressure

Expected: golden.formats.r4_quantize over the block's dY stream (row-major, one draw per
element), golden.gemm.gemm per tile, golden.gemm.readout with exp_offset = -7 - g; compared as
whole arrays (FP16 bits and both flags). The amax tracker's next exponent must equal
golden.formats.grad_scale_exp of the block's dY (delayed GradScale).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np

from golden.formats import grad_scale_exp
from golden.gemm import gemm, readout
from sim.array_payload import pack_a
from hdl.backward_tile import RESULT_LAYOUT, result_row_layout
from hdl.pe import LATENCY
from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, pulse, reset, run_streams
from verif.lib.gradients import GoldenQuantizer, pack_beats
from verif.lib.payload import field, unpack_array


def unpack_rows(payloads, cols):
    """o_result payloads -> (value uint16, overflow, acc_overflow) arrays (rows, cols), last."""
    layout = result_row_layout(cols)
    elems = unpack_array(payloads, layout, "data")
    last = field(np.array(payloads, dtype=object), layout, "last").astype(bool)
    return (field(elems, RESULT_LAYOUT, "value").astype(np.uint16),
            field(elems, RESULT_LAYOUT, "overflow").astype(bool),
            field(elems, RESULT_LAYOUT, "acc_overflow").astype(bool), last)


@cocotb.test()
async def backward_tile_matches_golden(dut):
    rows, cols = int(os.environ["BT_ROWS"]), int(os.environ["BT_COLS"])
    acc_width = int(os.environ["BT_ACC_WIDTH"])
    blocks = json.loads(os.environ["BT_BLOCKS"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} array {rows}x{cols} acc {acc_width}")
    rnd = random.Random(tb_seed)
    rng = np.random.default_rng(tb_seed)

    await reset(dut, idle=("i_a__valid", "i_grad__valid", "o_result__ready", "seed_load",
                           "sat_clear", "amax_clear", "seed"))

    golden = GoldenQuantizer()
    for block in blocks:
        tiles, k, fmt = block["tiles"], block["k"], block["a_format"]
        phase, stochastic = block["phase"], block["stochastic"]
        hi = 16 if fmt == "uint4" else 8
        a = rng.integers(0 if fmt == "uint4" else -8, hi, size=(tiles, rows, k))
        a_codes = (a & 0xF).astype(np.uint8)
        spread = rng.integers(-block["spread"], block["spread"] + 1, size=(tiles, 1, 1))
        # Data scale follows the exponent, within what FP16 holds (|dY| stays below 2^15).
        base = min(max(block["scale_exp"] or 0, -6), 20)
        dy = (rng.standard_normal((tiles, k, cols)) * 2.0 ** (spread - base)).astype(np.float16)
        g = block["scale_exp"] if block["scale_exp"] is not None else grad_scale_exp(dy)
        if stochastic and block["seed"] is not None:
            dut.seed.value = block["seed"]
            await pulse(dut, "seed_load")
            golden.load(block["seed"])
        await pulse(dut, "amax_clear")
        await pulse(dut, "sat_clear")
        dut.phase.value = phase
        dut.scale_exp.value = g & 0xFF
        dut.stochastic.value = stochastic
        dut.exp_offset.value = (-7 - g) & 0x1FF

        a_beats = [beat for t in range(tiles) for beat in pack_a(a_codes[t], fmt)]
        g_beats = pack_beats(dy.view(np.uint16).reshape(-1), cols)
        # Each tile may wait for its drain (as in the array); 32 covers the registers of the
        # gradient unit and the read-out around it.
        n_out = tiles * rows
        sink = StreamSink(dut, "o_result", n_out, rnd=rnd, stall=stall)
        await run_streams(dut, [StreamSource(dut, "i_a", a_beats, rnd=rnd, idle=stall),
                                StreamSource(dut, "i_grad", g_beats, rnd=rnd, idle=stall)], [sink],
                          where="BackwardTile o_result",
                          budget=cycle_budget(max(len(a_beats), len(g_beats)) + n_out,
                                              idle=stall, stall=stall,
                                              latency=tiles * (rows + LATENCY + 1) + 32))
        got = sink.got
        value, overflow, acc_overflow, last = unpack_rows(got, cols)

        q = golden.quantize(dy, phase=phase, scale_exp=g, stochastic=stochastic)
        accs = [gemm(a_codes[t], q.codes[t], a_format=fmt, b_format="r4", phase=phase,
                     acc_width=acc_width, flags=True) for t in range(tiles)]
        acc = np.concatenate([r.acc for r in accs])
        ref = readout(acc, exp_offset=-7 - g, flags=True)
        what = f"block {block} (g={g})"
        np.testing.assert_array_equal(value, ref.values.view(np.uint16), err_msg=f"FP16, {what}")
        np.testing.assert_array_equal(overflow, ref.overflow, err_msg=f"overflow, {what}")
        np.testing.assert_array_equal(acc_overflow, np.concatenate([r.overflow for r in accs]),
                                      err_msg=f"acc_overflow, {what}")
        assert (last == (np.arange(last.size) % rows == rows - 1)).all(), f"last, {what}"
        assert int(dut.sat_count.value) == int(q.saturated.sum()), f"sat_count, {what}"
        got_g = int(dut.next_scale_exp.value)
        got_g = got_g - 256 if got_g >= 128 else got_g
        assert got_g == grad_scale_exp(dy), f"next_scale_exp, {what}"
        dut._log.info(f"{what}: {tiles} tiles, {int(ref.overflow.sum())} read-out and "
                      f"{int(acc_overflow.sum())} accumulator saturations, equal to golden")
