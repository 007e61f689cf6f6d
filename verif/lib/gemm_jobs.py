"""GEMM jobs for the array's testbenches: random jobs, their beats, and the golden check.

A job is ``(a, b, mode)``: (M, K) and (K, N) code arrays and an ``(a_format, b_format,
phase)`` of :data:`golden.format_table.GEMM_MODES`. Several jobs stream back to back
(:func:`job_beats`); the ``o_c`` beats that come back are split per job, assembled and
compared for equality with golden.gemm (:func:`check_jobs`), accumulators and overflow flags.
"""

from __future__ import annotations

import numpy as np

from golden.gemm import gemm, max_safe_k
from sim.array_payload import assemble_c, gemm_beats


def random_job(rng: np.random.Generator, mode, *, rows: int, cols: int, kmax: int,
               acc_width: int):
    """M in 1..2R, N in 1..2C, K in 1..``kmax`` (capped by the accumulator's safe K)."""
    af, bf, _ = mode
    k = int(rng.integers(1, max(1, min(kmax, max_safe_k(af, bf, acc_width))) + 1))
    m = int(rng.integers(1, 2 * rows + 1))
    n = int(rng.integers(1, 2 * cols + 1))
    return rng.integers(0, 16, (m, k)), rng.integers(0, 16, (k, n)), mode


def job_beats(jobs, *, rows: int, cols: int):
    """(i_a beats, i_b beats, o_c beat count per job) of ``jobs`` back to back."""
    a_beats, b_beats, counts = [], [], []
    for a, b, (af, bf, p) in jobs:
        beats = gemm_beats(a, b, rows=rows, cols=cols, a_format=af, b_format=bf, phase=p)
        a_beats += beats.a
        b_beats += beats.b
        counts.append(beats.tiles * rows)
    return a_beats, b_beats, counts


def check_jobs(out, jobs, counts, *, rows: int, cols: int, acc_width: int) -> None:
    """Assert that the ``o_c`` payloads ``out`` equal golden.gemm for every job."""
    start = 0
    for (a, b, (af, bf, p)), count in zip(jobs, counts):
        acc, ovf = assemble_c(out[start:start + count], a.shape[0], b.shape[1], rows=rows,
                              cols=cols, acc_width=acc_width)
        exp = gemm(a, b, a_format=af, b_format=bf, phase=p, acc_width=acc_width, flags=True)
        where = f"{af} x {bf} phase {p}, A {a.shape}, B {b.shape}"
        np.testing.assert_array_equal(acc, exp.acc, err_msg=f"acc differs: {where}")
        np.testing.assert_array_equal(ovf, exp.overflow, err_msg=f"overflow differs: {where}")
        start += count
    assert start == len(out), f"{len(out)} o_c beats for {start} expected"
