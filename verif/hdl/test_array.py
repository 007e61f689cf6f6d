"""Amaranth-simulator tests of the systolic array against golden.gemm (equality only).

Small arrays and GEMMs only: the Python simulator runs ~3k cycles/s on 16 PEs. The larger
regressions run on the generated Verilog (verif/rtl/test_array.py).
"""

from __future__ import annotations

import gc
import random

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.format_table import GEMM_MODES
from golden.gemm import gemm, max_safe_k
from hdl.array import OuterProductArray
from hdl.pe import LATENCY
from verif.lib.budget import cycle_budget
from verif.lib.gemm_jobs import check_jobs, job_beats, random_job
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate


def run_gemm(dut, jobs, rng, *, gap_prob=0.3, stall_prob=0.3):
    """Stream every (a, b, mode) job back to back with random gaps and backpressure and
    compare each with golden.gemm (:func:`verif.lib.gemm_jobs.check_jobs`).

    Idle input cycles carry junk payloads (:class:`verif.lib.sim_streams.StreamSource`). A
    DUT that loses or withholds a beat fails once the run exceeds
    :func:`verif.lib.budget.cycle_budget` of the beats (each tile may also take its drain,
    ``rows + LATENCY + 1`` cycles).
    """
    a_beats, b_beats, counts = job_beats(jobs, rows=dut.rows, cols=dut.cols)
    n_out = sum(counts)
    tiles = n_out // dut.rows
    rnd = random.Random(int(rng.integers(2 ** 32)))
    sources = [StreamSource(dut.i_a, a_beats, rnd=rnd, idle=gap_prob),
               StreamSource(dut.i_b, b_beats, rnd=rnd, idle=gap_prob)]
    sink = StreamSink(dut.o_c, n_out, rnd=rnd, stall=stall_prob, as_int=True)
    budget = cycle_budget(len(a_beats) + n_out, idle=gap_prob, stall=stall_prob,
                          latency=tiles * (dut.rows + LATENCY + 1))

    async def testbench(ctx):
        await run_streams(ctx, sources, [sink], budget=budget, where="OuterProductArray o_c")

    simulate(dut, testbench)
    check_jobs(sink.got, jobs, counts, rows=dut.rows, cols=dut.cols, acc_width=dut.acc_width)


@pytest.mark.parametrize("rows,cols", [(2, 2), (3, 2)])
def test_random_gemms_every_mode(rows, cols, seed):
    rng = np.random.default_rng(seed)
    dut = OuterProductArray(rows, cols, acc_width=32)
    run_gemm(dut, [random_job(rng, mode, rows=rows, cols=cols, kmax=8, acc_width=32)
                   for mode in GEMM_MODES], rng)


def test_saturation_and_flags(seed):
    """K beyond the 18-bit bound with large products: clamps and sticky flags match golden."""
    rng = np.random.default_rng(seed)
    dut = OuterProductArray(2, 2, acc_width=18)
    k = 3 * max_safe_k("uint4", "r4", 18) + 2
    a = np.full((2, k), 15)
    a[1] = rng.integers(0, 16, k)
    b = np.full((k, 2), 0b0111)
    b[:, 1] = rng.choice([0b0111, 0b1111, 0b0110], k)
    run_gemm(dut, [(a, b, ("uint4", "r4", 0)), (a[:, :2], b[:2], ("uint4", "int4", 0))], rng)
    first = gemm(a, b, a_format="uint4", b_format="r4", acc_width=18, flags=True)
    second = gemm(a[:, :2], b[:2], a_format="uint4", b_format="int4", acc_width=18, flags=True)
    assert first.overflow[0, 0] and not second.overflow.any()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("kwargs,error,match", [
    ({"rows": 0}, TypeError, "rows must be a positive integer, not 0"),
    ({"cols": 2.0}, TypeError, "cols must be a positive integer, not 2.0"),
    ({"rows": True}, TypeError, "rows must be a positive integer, not True"),
    ({"acc_width": 17}, ValueError, "acc_width must be in 18..48, not 17"),
    ({"acc_width": "32"}, TypeError, "acc_width must be an integer"),
])
def test_parameters_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        OuterProductArray(**{"rows": 2, "cols": 2, "acc_width": 32, **kwargs})
    gc.collect()


def test_parameters_exposed():
    dut = OuterProductArray(3, 5, acc_width=20)
    assert (dut.rows, dut.cols, dut.acc_width) == (3, 5, 20)
    Fragment.get(dut, None)
