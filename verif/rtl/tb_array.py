"""cocotb testbench of the generated systolic-array Verilog, checked against golden.gemm.

Environment: ``ROWS``, ``COLS``, ``ACC_WIDTH``, ``SEED``, ``JOBS`` (random GEMMs per mode),
``KMAX`` (largest random K, further capped by the accumulator bound), ``SAT_KMAX`` (largest
K of the saturation test), ``GAP``/``STALL``
(probabilities of an idle input cycle, which carries a junk payload / of withholding
``o_c.ready``).

All payloads are packed in bulk before the clock starts (hdl.array_payload); the one loop
below drives both inputs and the output on a single trigger per cycle. That works because the
array's ``ready`` and ``valid`` outputs depend on registers only: read at the falling edge,
they hold at the next rising edge, so the TB knows which handshakes that edge completes.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from golden.gemm import gemm, max_safe_k
from hdl.array_payload import assemble_c, gemm_beats

MODES = [(af, bf, p) for af in ("int4", "uint4") for bf, p in
         (("int4", 0), ("uint4", 0), ("r4", 0), ("r4", 1))]
ROWS = int(os.environ.get("ROWS", "2"))
COLS = int(os.environ.get("COLS", "2"))
ACC_WIDTH = int(os.environ.get("ACC_WIDTH", "32"))
SEED = int(os.environ.get("SEED", "1"))
JOBS = int(os.environ.get("JOBS", "1"))
KMAX = int(os.environ.get("KMAX", "16"))
SAT_KMAX = int(os.environ.get("SAT_KMAX", "2400"))
GAP = float(os.environ.get("GAP", "0.3"))
STALL = float(os.environ.get("STALL", "0.3"))


class ArrayTB:
    """Driver of ``i_a``/``i_b``, monitor of ``o_c`` and scoreboard against golden.gemm."""

    def __init__(self, dut, seed: int):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.junk = random.Random(seed)
        self.fall = FallingEdge(dut.clk)
        self.cycles = 0

    async def start(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        for port in (dut.i_a__valid, dut.i_b__valid, dut.o_c__ready):
            port.value = 0
        await self.fall
        await self.fall
        dut.rst.value = 0

    async def stream(self, a_beats, b_beats, n_out, *, gap=GAP, stall=STALL, stop_after=None):
        """Drive the beats and collect ``n_out`` results (or stop after ``stop_after`` A beats)."""
        dut, rng = self.dut, self.rng
        a_valid, a_ready, a_data = dut.i_a__valid, dut.i_a__ready, dut.i_a__payload
        b_valid, b_ready, b_data = dut.i_b__valid, dut.i_b__ready, dut.i_b__payload
        o_valid, o_ready, o_data = dut.o_c__valid, dut.o_c__ready, dut.o_c__payload
        ai = bi = 0
        a_on = b_on = False
        out = []
        limit = len(a_beats) if stop_after is None else stop_after
        budget = 100 * (len(a_beats) + n_out) + 1000
        # Bulk random decisions: per cycle one draw for each stream.
        draws = rng.random((budget, 3))
        for cyc in range(budget):
            if len(out) >= n_out and ai >= limit:
                break
            go_a, go_b, take = draws[cyc]
            if not a_on and ai < limit and go_a >= gap:
                a_data.value = a_beats[ai]
                a_valid.value = 1
                a_on = True
            if not b_on and bi < len(b_beats) and go_b >= gap:
                b_data.value = b_beats[bi]
                b_valid.value = 1
                b_on = True
            ready = take >= stall
            o_ready.value = int(ready)
            if a_on and a_ready.value:
                ai += 1
                a_on = False
            if b_on and b_ready.value:
                bi += 1
                b_on = False
            if ready and o_valid.value:
                out.append(int(o_data.value))
            await self.fall
            self.cycles += 1
            # Idle cycles carry junk payloads: the array must ignore them.
            if not a_on:
                a_valid.value = 0
                a_data.value = self.junk.getrandbits(len(a_data))
            if not b_on:
                b_valid.value = 0
                b_data.value = self.junk.getrandbits(len(b_data))
        else:
            raise AssertionError(f"timeout: {ai}/{limit} A beats, {len(out)}/{n_out} results")
        o_ready.value = 0
        return out

    async def run_jobs(self, jobs, **kwargs):
        """Run GEMM jobs (a, b, mode) back to back; compare each with golden.gemm."""
        a_beats, b_beats, sizes = [], [], []
        for a, b, (af, bf, p) in jobs:
            beats = gemm_beats(a, b, rows=ROWS, cols=COLS, a_format=af, b_format=bf, phase=p)
            a_beats += beats.a
            b_beats += beats.b
            sizes.append(beats.tiles * ROWS)
        out = await self.stream(a_beats, b_beats, sum(sizes), **kwargs)
        start = 0
        for (a, b, (af, bf, p)), size in zip(jobs, sizes):
            acc, ovf = assemble_c(out[start:start + size], a.shape[0], b.shape[1], rows=ROWS,
                                  cols=COLS, acc_width=ACC_WIDTH)
            exp = gemm(a, b, a_format=af, b_format=bf, phase=p, acc_width=ACC_WIDTH, flags=True)
            where = f"{af} x {bf} phase {p}, A {a.shape}, B {b.shape}"
            assert np.array_equal(acc, exp.acc), f"acc differs: {where}"
            assert np.array_equal(ovf, exp.overflow), f"overflow flags differ: {where}"
            start += size

    def random_job(self, mode, kmax=KMAX):
        af, bf, p = mode
        rng = self.rng
        k = int(rng.integers(1, max(1, min(kmax, max_safe_k(af, bf, ACC_WIDTH))) + 1))
        m = int(rng.integers(1, 2 * ROWS + 1))
        n = int(rng.integers(1, 2 * COLS + 1))
        return rng.integers(0, 16, (m, k)), rng.integers(0, 16, (k, n)), mode


@cocotb.test()
async def random_gemms(dut):
    """JOBS random GEMMs per mode, all modes interleaved back to back, random gaps/stalls."""
    dut._log.info(f"seed={SEED} {ROWS}x{COLS} acc_width={ACC_WIDTH} jobs={JOBS} kmax={KMAX}")
    tb = ArrayTB(dut, SEED)
    await tb.start()
    jobs = [tb.random_job(MODES[i % len(MODES)]) for i in range(JOBS * len(MODES))]
    order = tb.rng.permutation(len(jobs))
    await tb.run_jobs([jobs[i] for i in order])
    dut._log.info(f"{len(jobs)} GEMMs in {tb.cycles} cycles")


@cocotb.test()
async def saturation(dut):
    """K past the accumulator bound with the largest products: clamps and sticky flags."""
    dut._log.info(f"seed={SEED} {ROWS}x{COLS} acc_width={ACC_WIDTH}")
    tb = ArrayTB(dut, SEED + 1)
    await tb.start()
    rng = tb.rng
    jobs = []
    for af, bf, p in MODES:
        bound = max_safe_k(af, bf, ACC_WIDTH)
        k = int(min(bound + 1 + rng.integers(0, 3), SAT_KMAX))
        a_big = 7 if af == "int4" else 15
        a = np.where(rng.random((ROWS, k)) < 0.9, a_big, rng.integers(0, 16, (ROWS, k)))
        b_big = {"int4": 0b1000, "uint4": 15, "r4": 0b0111}[bf]
        b = np.where(rng.random((k, COLS)) < 0.9, b_big, rng.integers(0, 16, (k, COLS)))
        # Row 0 x column 0 is all-maximum: it saturates whenever the bound is within SAT_KMAX.
        a[0], b[:, 0] = (0b1000 if af == "int4" else 15), b_big
        jobs.append((a, b, (af, bf, p)))
        dut._log.info(f"{af} x {bf} phase {p}: K = {k}, bound {bound}")
    await tb.run_jobs(jobs)


@cocotb.test()
async def reset_mid_tile(dut):
    """Reset in the middle of a tile, then a fresh GEMM: no stale state or output survives."""
    dut._log.info(f"seed={SEED} {ROWS}x{COLS} acc_width={ACC_WIDTH}")
    tb = ArrayTB(dut, SEED + 2)
    await tb.start()
    rng = tb.rng
    a = rng.integers(0, 16, (ROWS, 12))
    b = rng.integers(0, 16, (12, COLS))
    first = gemm_beats(a, b, rows=ROWS, cols=COLS, a_format="int4", b_format="r4", phase=1)
    # Finish one tile so results are queued, then stop halfway through the second.
    await tb.stream(first.a + first.a, first.b + first.b, 1, stop_after=12 + 6)
    dut.rst.value = 1
    await tb.fall
    await tb.fall
    dut.rst.value = 0
    dut.i_a__valid.value = 0
    dut.i_b__valid.value = 0
    for _ in range(ROWS + 4):
        await tb.fall
        assert int(dut.o_c__valid.value) == 0, "a result survived the reset"
    await tb.run_jobs([tb.random_job(mode) for mode in MODES])
