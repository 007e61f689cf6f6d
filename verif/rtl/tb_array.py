"""cocotb testbench of the generated systolic-array Verilog, checked against golden.gemm.

Environment: ``ROWS``, ``COLS``, ``ACC_WIDTH``, ``SEED``, ``JOBS`` (random GEMMs per mode),
``KMAX`` (largest random K, further capped by the accumulator bound), ``SAT_KMAX`` (largest
K of the saturation test), ``GAP``/``STALL`` (probabilities of an idle input cycle, which
carries a junk payload / of withholding ``o_c.ready``).

All payloads are packed in bulk before the clock starts (sim.array_payload). The array's
``ready`` and ``valid`` outputs depend on registers only, so the streams run with
``registered=True``: one trigger per cycle.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from golden.format_table import GEMM_MODES
from golden.gemm import max_safe_k
from sim.array_payload import gemm_beats
from hdl.pe import LATENCY
from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
from verif.lib.gemm_jobs import check_jobs, job_beats, random_job

ROWS = int(os.environ.get("ROWS", "2"))
COLS = int(os.environ.get("COLS", "2"))
ACC_WIDTH = int(os.environ.get("ACC_WIDTH", "32"))
SEED = int(os.environ.get("SEED", "1"))
JOBS = int(os.environ.get("JOBS", "1"))
KMAX = int(os.environ.get("KMAX", "16"))
SAT_KMAX = int(os.environ.get("SAT_KMAX", "2400"))
GAP = float(os.environ.get("GAP", "0.3"))
STALL = float(os.environ.get("STALL", "0.3"))
#: The inputs and output the testbench drives, low through reset.
IDLE = ("i_a__valid", "i_b__valid", "o_c__ready")


async def start(dut, seed: int) -> tuple[np.random.Generator, random.Random]:
    """Log the parameters, reset the DUT; returns the data and the stream generators."""
    dut._log.info(f"seed={seed} {ROWS}x{COLS} acc_width={ACC_WIDTH} jobs={JOBS} kmax={KMAX}")
    await reset(dut, idle=IDLE)
    return np.random.default_rng(seed), random.Random(seed)


async def stream(dut, rnd, a_beats, b_beats, n_out) -> list[int]:
    """Drive the beats with gaps and backpressure and collect ``n_out`` ``o_c`` payloads."""
    sink = StreamSink(dut, "o_c", n_out, rnd=rnd, stall=STALL)
    tiles = max(1, n_out // ROWS)
    cycles = await run_streams(
        dut, [StreamSource(dut, "i_a", a_beats, rnd=rnd, idle=GAP),
              StreamSource(dut, "i_b", b_beats, rnd=rnd, idle=GAP)], [sink],
        where="OuterProductArray o_c", registered=True,
        budget=cycle_budget(len(a_beats) + n_out, idle=GAP, stall=STALL,
                            latency=tiles * (ROWS + LATENCY + 1)))
    dut._log.info(f"{len(a_beats)} beats in, {n_out} out in {cycles} cycles")
    return sink.got


async def run_jobs(dut, rnd, jobs) -> None:
    """Run GEMM jobs (a, b, mode) back to back; compare each with golden.gemm."""
    a_beats, b_beats, counts = job_beats(jobs, rows=ROWS, cols=COLS)
    out = await stream(dut, rnd, a_beats, b_beats, sum(counts))
    check_jobs(out, jobs, counts, rows=ROWS, cols=COLS, acc_width=ACC_WIDTH)


def random_jobs(rng, count_per_mode: int, kmax: int = KMAX) -> list:
    jobs = [random_job(rng, GEMM_MODES[i % len(GEMM_MODES)], rows=ROWS, cols=COLS, kmax=kmax,
                       acc_width=ACC_WIDTH) for i in range(count_per_mode * len(GEMM_MODES))]
    return [jobs[i] for i in rng.permutation(len(jobs))]


@cocotb.test()
async def random_gemms(dut):
    """JOBS random GEMMs per mode, all modes interleaved back to back, random gaps/stalls."""
    rng, rnd = await start(dut, SEED)
    await run_jobs(dut, rnd, random_jobs(rng, JOBS))


@cocotb.test()
async def saturation(dut):
    """K past the accumulator bound with the largest products: clamps and sticky flags."""
    rng, rnd = await start(dut, SEED + 1)
    jobs = []
    for af, bf, p in GEMM_MODES:
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
    await run_jobs(dut, rnd, jobs)


@cocotb.test()
async def reset_mid_tile(dut):
    """Reset in the middle of a tile, then a fresh GEMM: no stale state or output survives."""
    rng, rnd = await start(dut, SEED + 2)
    a = rng.integers(0, 16, (ROWS, 12))
    b = rng.integers(0, 16, (12, COLS))
    first = gemm_beats(a, b, rows=ROWS, cols=COLS, a_format="int4", b_format="r4", phase=1)
    # Finish one tile so results are queued, then stop halfway through the second.
    half = 12 + 6
    await stream(dut, rnd, (first.a + first.a)[:half], (first.b + first.b)[:half], 1)
    await reset(dut, clock=False, idle=IDLE)
    for _ in range(ROWS + 4):
        await FallingEdge(dut.clk)
        assert int(dut.o_c__valid.value) == 0, "a result survived the reset"
    await run_jobs(dut, rnd, random_jobs(rng, 1))
