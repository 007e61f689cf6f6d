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
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from golden.formats import DEFAULT_SEED, r4_quantize, xorshift32_stream
from hdl.r4_quantizer import R4_OUT_LAYOUT
from verif.budget import cycle_budget, timeout


def field(bits: np.ndarray, layout, name: str) -> np.ndarray:
    """Extract member ``name`` of a StructLayout from packed payload integers."""
    member = layout.members[name]
    return (bits >> layout[name].offset) & ((1 << member.width) - 1)


class GoldenQuantizer:
    """golden r4_quantize over consecutive blocks that share the hardware's random stream.

    The lane draws one number per element it quantizes stochastically, so a stochastic block
    continues the stream where the previous one stopped; ``seed_load`` restarts it. Nearest
    blocks draw nothing.
    """

    def __init__(self, seed: int = DEFAULT_SEED):
        self.load(seed)

    def load(self, seed: int) -> None:
        """Mirror a ``seed_load`` pulse."""
        self._seed, self._drawn = seed, 0

    def quantize(self, x: np.ndarray, *, phase: int, scale_exp: int, stochastic: bool):
        """The golden ``R4Result`` for block ``x``, advancing the stream if stochastic."""
        if not stochastic:
            return r4_quantize(x, phase=phase, scale_exp=scale_exp, flags=True)
        start = (int(xorshift32_stream(self._seed, self._drawn)[-1]) if self._drawn
                 else self._seed)
        self._drawn += x.size
        return r4_quantize(x, phase=phase, scale_exp=scale_exp, rounding="stochastic",
                           seed=start, flags=True)


async def reset(dut, cycles: int = 2) -> None:
    """Start the clock (C++-side under Verilator) and hold ``rst`` for a few cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def stream_through(dut, beats, *, rnd: random.Random, stall: float,
                         i: str = "i", o: str = "o", latency: int = 16) -> list[int]:
    """Send ``beats`` (payload integers) on stream ``i``, collect as many from stream ``o``.

    Inputs change at the falling edge; after ReadOnly the handshake that the next rising edge
    commits is known. ``valid`` is raised at random (idle with probability ``stall``) and
    held with its payload until accepted; ``ready`` is random each cycle. A DUT that loses a
    beat fails once the cycles exceed :func:`verif.budget.cycle_budget` of the beats
    (``latency``: the DUT's pipeline depth).
    """
    i_valid, i_ready, i_payload = (getattr(dut, f"{i}__{s}") for s in ("valid", "ready",
                                                                       "payload"))
    o_valid, o_ready, o_payload = (getattr(dut, f"{o}__{s}") for s in ("valid", "ready",
                                                                       "payload"))
    beats = [int(b) for b in beats]
    n, sent, got = len(beats), 0, []
    budget = cycle_budget(n, idle=stall, stall=stall, latency=latency)
    holding, cycles = False, 0
    while len(got) < n:
        if cycles == budget:
            raise timeout(budget, f"stream {i} -> {o}", beats_in=(sent, n),
                          beats_out=(len(got), n))
        cycles += 1
        await FallingEdge(dut.clk)
        if not holding and sent < n and rnd.random() >= stall:
            holding = True
            i_payload.value = beats[sent]
        i_valid.value = holding
        ready = rnd.random() >= stall
        o_ready.value = ready
        await ReadOnly()
        if holding and int(i_ready.value):
            sent += 1
            holding = False
        if ready and int(o_valid.value):
            got.append(int(o_payload.value))
    await FallingEdge(dut.clk)
    i_valid.value = 0
    o_ready.value = 0
    return got


async def pulse(dut, name: str) -> None:
    """Raise the one-bit input ``name`` for exactly one clock cycle."""
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 1
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 0


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

    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.seed_load.value = 0
    dut.sat_clear.value = 0
    dut.seed.value = 0
    await reset(dut)

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
