"""Amaranth-simulator tests of the FP16 FMA: the combinational core and the stream PE.

Small on purpose (the Python simulator runs ~1k evaluations/s): the special-value classes and
the million random triples run on the generated Verilog in verif/rtl/test_fp16_fma.py.
"""

import gc
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.fp16 import fma_bits, fp16_dot
from hdl.fp16_fma import Fp16FmaCore, Fp16FmaPE, Fp16FmaPipelinedPE
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate
from verif.lib.stimuli import interleave_tiles, pe_tiles

#: +-0, subnormals, normals, largest finite, Inf and NaN: one of each class and sign.
SPECIALS = [s | m for s in (0, 0x8000) for m in (0, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF,
                                                  0x7C00, 0x7E00)]

def test_core_specials_and_random(seed):
    rng = np.random.default_rng(seed)
    vecs = [(a, b, c) for a in SPECIALS for b in SPECIALS[::3] for c in SPECIALS[::2]]
    vecs += [tuple(int(v) for v in rng.integers(0, 1 << 16, 3)) for _ in range(300)]
    dut = Fp16FmaCore()
    bad = []

    async def bench(ctx):
        for a, b, c in vecs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.c, c)
            got, want = ctx.get(dut.result), fma_bits(a, b, c)
            if got != want:
                bad.append((hex(a), hex(b), hex(c), hex(got), hex(want)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert bad == []


def test_pe_tiles_with_stalls(seed):
    rng = np.random.default_rng(seed)
    tiles = pe_tiles(rng, 6, 5, 4)
    want = [int(fp16_dot(a.view(np.float16), b.view(np.float16)).view(np.uint16))
            for a, b in tiles]
    beats = [(int(x), int(y), k == 0, k == len(a) - 1)
             for a, b in tiles for k, (x, y) in enumerate(zip(a, b))]
    dut = Fp16FmaPE()
    rnd = random.Random(seed)
    source = StreamSource(dut.i, [{"a": a, "b": b, "first": first, "last": last}
                                 for a, b, first, last in beats], rnd=rnd, idle=0.3)
    sink = StreamSink(dut.o, len(want), rnd=rnd, stall=0.4)

    async def testbench(ctx):
        await run_streams(ctx, [source], [sink], where="Fp16FmaPE o",
                          budget=cycle_budget(len(beats), idle=0.3, stall=0.4, latency=8))

    simulate(dut, testbench)
    got = sink.got
    assert got == want


def dot_bits(a, b) -> int:
    """golden.fp16.fp16_dot of two pattern arrays, as a pattern."""
    return int(fp16_dot(np.asarray(a, np.uint16).view(np.float16),
                        np.asarray(b, np.uint16).view(np.float16)).view(np.uint16))


@pytest.mark.parametrize("cuts", [None, (("exponents", "align", "add", "magnitude"),
                                         ("leading", "normalise", "round", "select"))],
                         ids=["default", "two_slots"])
def test_pipelined_pe_interleaved_tiles_with_stalls(seed, cuts):
    """Interleaved dot products (edge tiles, then random ones with special-class operands),
    idle cycles with junk payloads and output backpressure; each slot's result equals the
    sequential golden FMA chain. Also with two slots, a different cut of the same steps."""
    rng = np.random.default_rng(seed)
    dut = Fp16FmaPipelinedPE() if cuts is None else Fp16FmaPipelinedPE(cuts)
    a, b, first, last, order = interleave_tiles(rng, pe_tiles(rng, 16, 7, 4), dut.slots)
    want = [dot_bits(x, y) for x, y in order]
    rnd = random.Random(seed)
    source = StreamSource(dut.i, [
        {"a": int(x), "b": int(y), "first": int(f), "last": int(l)}
        for x, y, f, l in zip(a, b, first, last)], rnd=rnd, idle=0.3)
    sink = StreamSink(dut.o, len(want), rnd=rnd, stall=0.4)

    async def testbench(ctx):
        await run_streams(ctx, [source], [sink], where="Fp16FmaPipelinedPE o",
                          budget=cycle_budget(len(a), idle=0.3, stall=0.4,
                                              latency=dut.LATENCY + 8))

    simulate(dut, testbench)
    assert sink.got == want


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_pipelined_pe_refuses_bad_cuts():
    for cuts in ((), (("align",), ("round", "add")), (("align", "add"), ())):
        with pytest.raises(ValueError, match="cuts must group the adder steps"):
            Fp16FmaPipelinedPE(cuts)
    gc.collect()        # the refused objects warn now, under this test's filter
