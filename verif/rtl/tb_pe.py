"""cocotb testbench of the generated processing-element Verilog, checked against golden.gemm.

Environment: ``ACC_WIDTH``, ``SEED``, ``PE_R4`` (1: the full PE, every mode; 0: the INT4-only
PE, ``ProcessingElement(r4=False)``, its integer modes and its ``IntMode`` port). One trigger
(the falling edge) per cycle: inputs are written there and take effect at the next rising
edge; ``done``/``drain`` (from registers) are read at every falling edge, so a tile's result
is collected ``hdl.pe.latency`` cycles after its last product was driven, while the next tile
streams in.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from golden.gemm import gemm
from hdl.pe import latency
from verif.lib.budget import cycle_budget, timeout
from verif.lib.cocotb_streams import reset
from verif.lib.stimuli import clamped, pe_modes


ACC_WIDTH = int(os.environ.get("ACC_WIDTH", "32"))
SEED = int(os.environ.get("SEED", "1"))
R4 = bool(int(os.environ.get("PE_R4", "1")))
#: The modes of the PE under test and the packing of its ``mode`` port.
MODES, MODE_CODE = pe_modes(R4)
LATENCY = latency(R4)
#: The PE's inputs, driven low through reset.
INPUTS = ("en", "last", "a", "b", "mode")


class Collector:
    """Reads ``done``/``drain`` once per falling edge and keeps every finished tile."""

    def __init__(self, dut):
        self.dut = dut
        self.fall = FallingEdge(dut.clk)
        self.tiles = []

    async def step(self):
        await self.fall
        if self.dut.done.value:
            self.tiles.append(clamped(int(self.dut.drain.value), ACC_WIDTH))

    async def drain(self, count: int):
        """After the last product: step until ``count`` tiles are in, within a cycle budget.

        The last tile drains ``LATENCY`` cycles after its last product; a PE that lost a tile
        fails after :func:`verif.lib.budget.cycle_budget` of that instead of waiting forever.
        """
        budget = cycle_budget(0, latency=LATENCY)
        for _ in range(budget):
            if len(self.tiles) >= count:
                return
            await self.step()
        if len(self.tiles) < count:
            raise timeout(budget, "ProcessingElement done after the last product",
                          tiles=(len(self.tiles), count))


@cocotb.test()
async def every_code_pair(dut):
    """All 256 code pairs in every (a_format, b_format, phase) mode of the PE (8, or the
    INT4-only PE's 4), one K = 1 tile each."""
    await reset(dut, idle=INPUTS)
    col = Collector(dut)
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    a, b = a.ravel(), b.ravel()
    dut.en.value = 1
    dut.last.value = 1
    expected = []
    for af, bf, p in MODES:
        expected += np.diag(gemm(a[:, None], b[None, :], a_format=af, b_format=bf, phase=p,
                                 acc_width=ACC_WIDTH)).tolist()
        dut.mode.value = MODE_CODE(af, bf, p)
        for x, y in zip(a.tolist(), b.tolist()):
            dut.a.value = x
            dut.b.value = y
            await col.step()
    dut.en.value = 0
    await col.drain(len(expected))
    assert [t[0] for t in col.tiles] == expected
    assert not any(t[1] for t in col.tiles)


@cocotb.test()
async def saturating_tiles(dut):
    """Random tiles with enable gaps (junk operands), biased so narrow accumulators saturate."""
    dut._log.info(f"seed={SEED} acc_width={ACC_WIDTH}")
    rng = np.random.default_rng(SEED)
    await reset(dut, idle=INPUTS)
    col = Collector(dut)
    expected = []
    for _ in range(40):
        af, bf, p = MODES[rng.integers(len(MODES))]
        k = int(rng.integers(1, 60))
        a = np.where(rng.random(k) < 0.8, rng.choice([7, 15, 0b1000], k), rng.integers(0, 16, k))
        b = np.where(rng.random(k) < 0.8, rng.choice([0b0111, 0b1111], k, p=[2 / 3, 1 / 3]),
                     rng.integers(0, 16, k))
        exp = gemm(a[None, :], b[:, None], a_format=af, b_format=bf, phase=p,
                   acc_width=ACC_WIDTH, flags=True)
        expected.append((int(exp.acc[0, 0]), int(exp.overflow[0, 0])))
        for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
            while rng.random() < 0.2:
                # An enable gap: the operands, mode and last are junk and must be ignored.
                dut.en.value = 0
                for port, bits in ((dut.a, 4), (dut.b, 4), (dut.mode, len(dut.mode)),
                                   (dut.last, 1)):
                    port.value = int(rng.integers(0, 2 ** bits))
                await col.step()
            dut.mode.value = MODE_CODE(af, bf, p)
            dut.en.value = 1
            dut.last.value = int(i == k - 1)
            dut.a.value = x
            dut.b.value = y
            await col.step()
    dut.en.value = 0
    await col.drain(len(expected))
    assert col.tiles == expected
    dut._log.info(f"{sum(t[1] for t in expected)} of 40 tiles saturated")
