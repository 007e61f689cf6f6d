"""Amaranth-simulator tests of the FP8 MAC: the combinational core and the stream PE.

The Python simulator checks about 2.5k code pairs a second, so the fast suite takes every
pair of E4M3 class codes on every edge accumulator plus random pairs on random accumulators;
every one of the 65536 code pairs per accumulator (27 s each) is ``slow``, and runs on the
generated Verilog for all edge accumulators in verif/rtl/test_fp8_mac.py.
"""

import itertools
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.fp8 import fp8_dot, fp8_mac_bits
from hdl.fp8_mac import Fp8MacCore, Fp8MacPE
from verif.lib.budget import cycle_budget
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate
from verif.lib.stimuli import E4M3_CLASS_CODES, FP32_EDGE_ACCS, fp8_pe_tiles, random_f32_accs

#: Accumulators of the exhaustive runs: -0 (a tile's first beat), one, the smallest
#: subnormal, 2^24 + 2 (ties on every odd product), -448^2 (cancelling) and a NaN.
EXHAUSTIVE_ACCS = [0x80000000, 0x3F800000, 0x00000001, 0x4B800001, 0xC8440000, 0x7FC00000]


def check_core(triples):
    """(acc, a, b) triples through :class:`Fp8MacCore`: the mismatches with the golden model."""
    acc, a, b = (np.array(x, dtype=np.int64) for x in zip(*triples))
    want = fp8_mac_bits(acc, a, b).tolist()
    dut = Fp8MacCore()
    bad = []

    async def bench(ctx):
        for (c, x, y), w in zip(triples, want):
            ctx.set(dut.c, c)
            ctx.set(dut.a, x)
            ctx.set(dut.b, y)
            got = ctx.get(dut.result)
            if got != w:
                bad.append((hex(c), hex(x), hex(y), hex(got), hex(w)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return bad


def test_core_classes_and_random(seed):
    rng = np.random.default_rng(seed)
    triples = [(c, a, b) for c in FP32_EDGE_ACCS
               for a, b in itertools.product(E4M3_CLASS_CODES, E4M3_CLASS_CODES[::2])]
    triples += [(c, *(int(x) for x in rng.integers(0, 256, 2)))
                for c in random_f32_accs(rng, 8) for _ in range(250)]
    assert check_core(triples) == []


@pytest.mark.slow
@pytest.mark.parametrize("acc", EXHAUSTIVE_ACCS, ids=[f"{a:#010x}" for a in EXHAUSTIVE_ACCS])
def test_core_every_code_pair(acc):
    assert check_core([(acc, a, b) for a in range(256) for b in range(256)]) == []


def test_pe_tiles_with_stalls(seed):
    rng = np.random.default_rng(seed)
    tiles = fp8_pe_tiles(rng, 24, 9)
    want = [fp8_dot(a, b) for a, b in tiles]
    beats = [{"a": int(x), "b": int(y), "first": k == 0, "last": k == len(a) - 1}
             for a, b in tiles for k, (x, y) in enumerate(zip(a, b))]
    dut = Fp8MacPE()
    rnd = random.Random(seed)
    source = StreamSource(dut.i, beats, rnd=rnd, idle=0.3)
    sink = StreamSink(dut.o, len(want), rnd=rnd, stall=0.4)

    async def testbench(ctx):
        await run_streams(ctx, [source], [sink], where="Fp8MacPE o",
                          budget=cycle_budget(len(beats), idle=0.3, stall=0.4, latency=8))

    simulate(dut, testbench)
    assert sink.got == want


