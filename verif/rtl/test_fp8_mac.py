"""Runner of the FP8 MAC baseline on its generated Verilog (cocotb, every simulator).

The combinational core is checked through a wrapper of ``LANES`` cores side by side (one
cocotb step checks ``LANES`` triples, about 65 us under Verilator). ``LANES = 1``: Verilator
compiles the 16-lane wrapper for six minutes on this machine, a single lane in seconds, and
the 65536 code pairs of one accumulator then take about 4 s. Golden results come from
golden.fp8 in the pytest process and travel to the testbench in an .npz file.

Fast suite: every code pair on -0 (a tile's first beat), every pair of class codes on every
edge accumulator (verif.lib.stimuli.FP32_EDGE_ACCS) and random pairs on random accumulators
(Icarus: the class pairs on a quarter of the edge accumulators and 2000 random triples), and
a PE stream with idle beats and backpressure: the edge tiles, then random tiles. Slow
(``make sim``): every code pair on every edge accumulator and on 16 random ones under
Verilator, and a longer PE stream.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.fp8 import fp8_dot, fp8_mac_bits
from hdl.fp8_mac import Fp8MacCore, Fp8MacPE
from sim.cocotb_run import BUILD, run_cocotb
from verif.lib.stimuli import E4M3_CLASS_CODES, FP32_EDGE_ACCS, fp8_pe_tiles, random_f32_accs

#: A baseline, not the 4-bit datapath: the fast suite runs it under Icarus (no 30 s Verilator
#: build per design); ``make sim`` runs it under Verilator too.
pytestmark = pytest.mark.fast_suite_on("icarus")

LANES = 1
#: Accumulators whose every code pair the Verilator run checks (``make sim``; the fast suite
#: runs this file under Icarus, on a subset).
FAST_EXHAUSTIVE_ACCS = [0x80000000]


class Fp8MacLanes(wiring.Component):
    """``lanes`` independent combinational MAC cores: a test wrapper, never synthesised."""

    def __init__(self, lanes: int):
        if not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"lanes must be a positive integer, not {lanes!r}")
        self._lanes = lanes
        code, word = data.ArrayLayout(8, lanes), data.ArrayLayout(32, lanes)
        super().__init__({"a": In(code), "b": In(code), "c": In(word), "result": Out(word)})

    def elaborate(self, platform):
        m = Module()
        for i in range(self._lanes):
            m.submodules[f"mac{i}"] = core = Fp8MacCore()
            m.d.comb += [core.a.eq(self.a[i]), core.b.eq(self.b[i]), core.c.eq(self.c[i]),
                         self.result[i].eq(core.result)]
        return m


def every_pair(accs):
    """(c, a, b) arrays of every code pair on each accumulator of ``accs``."""
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    return (np.repeat(np.array(accs, np.uint32), a.size), np.tile(a, len(accs)),
            np.tile(b, len(accs)))


def class_pairs(accs):
    """(c, a, b) arrays of every pair of class codes on each accumulator of ``accs``."""
    t = np.array(list(itertools.product(accs, E4M3_CLASS_CODES, E4M3_CLASS_CODES)), np.int64)
    return t[:, 0].astype(np.uint32), t[:, 1], t[:, 2]


def random_pairs(rng, accs, per_acc):
    c = np.repeat(np.array(accs, np.uint32), per_acc)
    return c, rng.integers(0, 256, c.size), rng.integers(0, 256, c.size)


def run_core(name, simulator, parts):
    c, a, b = (np.concatenate(x) for x in zip(*parts))
    path = BUILD / name / simulator / "vectors.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, a=a.astype(np.uint8), b=b.astype(np.uint8), c=c.astype(np.uint32),
             want=fp8_mac_bits(c, a, b))
    run_cocotb(Fp8MacLanes(LANES), name=name, test_module="verif.rtl.tb_float_mac",
               simulator=simulator, testcase="core_vectors",
               env={"MAC_PE": "fp8", "MAC_VECTORS": path, "MAC_LANES": LANES})


def run_pe(name, simulator, rng, tiles, tb_seed):
    a, b, first, last, want = [], [], [], [], []
    for x, y in fp8_pe_tiles(rng, tiles, 11):
        a += x.tolist()
        b += y.tolist()
        first += [1] + [0] * (len(x) - 1)
        last += [0] * (len(x) - 1) + [1]
        want.append(fp8_dot(x, y))
    path = BUILD / name / simulator / "tiles.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, a=a, b=b, first=first, last=last, want=np.array(want, np.uint32))
    run_cocotb(Fp8MacPE(), name=name, test_module="verif.rtl.tb_float_mac",
               simulator=simulator, testcase="pe_stream",
               env={"MAC_PE": "fp8", "MAC_TILES": path, "TB_SEED": tb_seed,
                    "TB_STALL": 0.3})


def test_core_pairs(simulator, seed):
    rng = np.random.default_rng(seed)
    if simulator == "verilator":
        parts = [every_pair(FAST_EXHAUSTIVE_ACCS), class_pairs(FP32_EDGE_ACCS),
                 random_pairs(rng, random_f32_accs(rng, 8), 1000)]
    else:
        parts = [class_pairs(FP32_EDGE_ACCS[::4]),
                 random_pairs(rng, random_f32_accs(rng, 4), 500)]
    run_core("fp8_mac_core_fast", simulator, parts)


def test_pe_stream(simulator, seed):
    run_pe("fp8_mac_pe_fast", simulator, np.random.default_rng(seed), 60, seed)


@pytest.mark.slow
def test_core_every_pair_on_every_edge_accumulator(simulator, seed):
    if simulator != "verilator":
        pytest.skip("the exhaustive run is a Verilator job; Icarus gets the fast subset")
    rng = np.random.default_rng(seed)
    run_core("fp8_mac_core_exhaustive", simulator,
             [every_pair(FP32_EDGE_ACCS + random_f32_accs(rng, 16))])


@pytest.mark.slow
def test_pe_stream_long(simulator, seed):
    run_pe("fp8_mac_pe_long", simulator, np.random.default_rng(seed), 2000, seed)
