"""Runner of the FP16 FMA baseline on its generated Verilog (cocotb, every simulator).

Choice documented in docs/synth.md: the combinational core is checked through a wrapper of
``LANES`` cores side by side (one cocotb step checks ``LANES`` triples), which makes the
million-triple run a ~1 minute job under Verilator without a C++ testbench. Golden results
come from golden.fp16 in the pytest process and travel to the testbench in an .npz file.

Fast suite: every combination of the special-value classes (13824 triples) plus random
triples (20000 under Verilator, 2000 under Icarus) and a short PE stream: the edge tiles of
verif/hdl/test_fp16_fma.py (the accumulator register through Inf, NaN, -0, overflow and
subnormals), then random tiles with special-class operands mixed in. Slow (``make sim``):
10^6 uniformly random bit patterns plus 10^5 each of near-cancelling and tiny triples under
Verilator, and a longer PE stream.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.fp16 import fp16_dot, fp16_fma_bits
from hdl.fp16_fma import Fp16FmaCore, Fp16FmaPE, Fp16FmaPipelinedPE
from sim.cocotb_run import BUILD, run_cocotb
from verif.lib.stimuli import CLASS_PATTERNS, interleave_tiles, pe_tiles, random_triples

#: A baseline, not the 4-bit datapath: the fast suite runs it under Icarus (no 30 s Verilator
#: build per design); ``make sim`` runs it under Verilator too.
pytestmark = pytest.mark.fast_suite_on("icarus")

LANES = 1


class Fp16FmaLanes(wiring.Component):
    """``lanes`` independent combinational FMA cores: a test wrapper, never synthesised."""

    def __init__(self, lanes: int):
        if not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"lanes must be a positive integer, not {lanes!r}")
        self._lanes = lanes
        word = data.ArrayLayout(16, lanes)
        super().__init__({"a": In(word), "b": In(word), "c": In(word), "result": Out(word)})

    def elaborate(self, platform):
        m = Module()
        for i in range(self._lanes):
            m.submodules[f"fma{i}"] = core = Fp16FmaCore()
            m.d.comb += [core.a.eq(self.a[i]), core.b.eq(self.b[i]), core.c.eq(self.c[i]),
                         self.result[i].eq(core.result)]
        return m


def run_core(name, simulator, triples):
    a, b, c = (np.concatenate(x).astype(np.uint16) for x in zip(*triples))
    path = BUILD / name / simulator / "vectors.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, a=a, b=b, c=c, want=fp16_fma_bits(a, b, c))
    run_cocotb(Fp16FmaLanes(LANES), name=name, test_module="verif.rtl.tb_float_mac",
               simulator=simulator, testcase="core_vectors",
               env={"MAC_PE": "fp16", "MAC_VECTORS": path, "MAC_LANES": LANES})


def run_pe(name, simulator, rng, tiles, tb_seed, pipelined=False):
    """The PE stream test: ``tiles`` random tiles after the edge tiles, one after the other
    (:class:`Fp16FmaPE`), or interleaved over the slots of :class:`Fp16FmaPipelinedPE`."""
    dut = Fp16FmaPipelinedPE() if pipelined else Fp16FmaPE()
    a, b, first, last, order = interleave_tiles(rng, pe_tiles(rng, tiles, 11, 8),
                                                dut.slots if pipelined else 1)
    want = [fp16_dot(x.view(np.float16), y.view(np.float16)).view(np.uint16) for x, y in order]
    path = BUILD / name / simulator / "tiles.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, a=a, b=b, first=first, last=last, want=want)
    run_cocotb(dut, name=name, test_module="verif.rtl.tb_float_mac",
               simulator=simulator, testcase="pe_stream",
               env={"MAC_PE": "fp16_pipelined" if pipelined else "fp16", "MAC_TILES": path,
                    "TB_SEED": tb_seed, "TB_STALL": 0.3})


def class_triples():
    """Every combination of the special-value class representatives (24^3 triples)."""
    t = np.array(list(itertools.product(CLASS_PATTERNS, repeat=3)), dtype=np.uint16)
    return t[:, 0], t[:, 1], t[:, 2]


def test_core_classes_and_random(simulator, seed):
    rng = np.random.default_rng(seed)
    n = 20_000 if simulator == "verilator" else 2_000
    run_core("fp16_fma_core_fast", simulator,
             [class_triples()] + [random_triples(rng, n // 2, k) for k in ("uniform", "near")])


def test_pe_stream(simulator, seed):
    run_pe("fp16_fma_pe_fast", simulator, np.random.default_rng(seed), 60, seed)


def test_pipelined_pe_stream(simulator, seed):
    """The pipelined PE: the edge tiles and 120 random ones interleaved over its slots, with
    idle cycles (junk payloads) and backpressure; each slot against the sequential golden."""
    run_pe("fp16_fma_pe_pipelined_fast", simulator, np.random.default_rng(seed), 120, seed,
           pipelined=True)


@pytest.mark.slow
def test_core_million_random(simulator, seed):
    if simulator != "verilator":
        pytest.skip("the million-triple run is a Verilator job; Icarus gets the fast subset")
    rng = np.random.default_rng(seed)
    run_core("fp16_fma_core_million", simulator,
             [random_triples(rng, 1_000_000), random_triples(rng, 100_000, "near"),
              random_triples(rng, 100_000, "tiny")])


@pytest.mark.slow
def test_pe_stream_long(simulator, seed):
    run_pe("fp16_fma_pe_long", simulator, np.random.default_rng(seed), 2000, seed)


@pytest.mark.slow
def test_pipelined_pe_stream_long(simulator, seed):
    run_pe("fp16_fma_pe_pipelined_long", simulator, np.random.default_rng(seed), 4000, seed,
           pipelined=True)
