"""cocotb testbench of the generated processing-element Verilog, checked against golden.gemm.

Environment: ``ACC_WIDTH``, ``SEED``. One trigger (the falling edge) per cycle: inputs are
written there and take effect at the next rising edge; the registered outputs read at the
following falling edge hold the result.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from golden.gemm import gemm
from hdl.modes import mode_code

MODES = [(af, bf, p) for af in ("int4", "uint4") for bf, p in
         (("int4", 0), ("uint4", 0), ("r4", 0), ("r4", 1))]
ACC_WIDTH = int(os.environ.get("ACC_WIDTH", "32"))
SEED = int(os.environ.get("SEED", "1"))


async def start(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.en.value = 0
    dut.first.value = 0
    dut.a.value = 0
    dut.b.value = 0
    dut.mode.value = 0
    fall = FallingEdge(dut.clk)
    await fall
    await fall
    dut.rst.value = 0
    return fall


@cocotb.test()
async def every_code_pair(dut):
    """All 256 code pairs in all 8 (a_format, b_format, phase) modes, one K = 1 tile each."""
    fall = await start(dut)
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    a, b = a.ravel(), b.ravel()
    dut.en.value = 1
    dut.first.value = 1
    for af, bf, p in MODES:
        expected = np.diag(gemm(a[:, None], b[None, :], a_format=af, b_format=bf, phase=p,
                                acc_width=ACC_WIDTH)).tolist()
        dut.mode.value = mode_code(af, bf, p)
        got = []
        for x, y in zip(a.tolist(), b.tolist()):
            dut.a.value = x
            dut.b.value = y
            await fall
            got.append(dut.acc.value.to_signed())
        assert got == expected, f"mode {af} x {bf} phase {p}"
        assert int(dut.overflow.value) == 0


@cocotb.test()
async def saturating_tiles(dut):
    """Random tiles with enable gaps, biased so that narrow accumulators saturate."""
    dut._log.info(f"seed={SEED} acc_width={ACC_WIDTH}")
    rng = np.random.default_rng(SEED)
    fall = await start(dut)
    saturated = 0
    for _ in range(40):
        af, bf, p = MODES[rng.integers(len(MODES))]
        k = int(rng.integers(1, 60))
        a = np.where(rng.random(k) < 0.8, rng.choice([7, 15, 0b1000], k), rng.integers(0, 16, k))
        b = np.where(rng.random(k) < 0.8, rng.choice([0b0111, 0b1111], k, p=[2 / 3, 1 / 3]), rng.integers(0, 16, k))
        exp = gemm(a[None, :], b[:, None], a_format=af, b_format=bf, phase=p,
                   acc_width=ACC_WIDTH, flags=True)
        dut.mode.value = mode_code(af, bf, p)
        for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
            while rng.random() < 0.2:
                dut.en.value = 0
                await fall
            dut.en.value = 1
            dut.first.value = int(i == 0)
            dut.a.value = x
            dut.b.value = y
            await fall
        dut.en.value = 0
        await fall
        assert dut.acc.value.to_signed() == int(exp.acc[0, 0])
        assert int(dut.overflow.value) == int(exp.overflow[0, 0])
        saturated += int(exp.overflow[0, 0])
    dut._log.info(f"{saturated} of 40 tiles saturated")
