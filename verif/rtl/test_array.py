"""Run the systolic-array cocotb testbench on the generated Verilog under each simulator.

The unmarked case (2x2, one random GEMM per mode, saturation, reset mid-tile) is the fast
subset in ``make test``; the bigger arrays, more GEMMs and longer K run in ``make sim``.
"""

from __future__ import annotations

import pytest

from hdl.array import OuterProductArray
from sim.cocotb_run import run_cocotb


def run_array(simulator, seed, rows, cols, acc_width, **env):
    run_cocotb(OuterProductArray(rows, cols, acc_width), name=f"array_{rows}x{cols}_w{acc_width}",
               test_module="verif.rtl.tb_array", simulator=simulator,
               env={"ROWS": rows, "COLS": cols, "ACC_WIDTH": acc_width, "SEED": seed, **env})


def test_array_fast(simulator, seed):
    """2x2 with a 20-bit accumulator, so that UINT4 x UINT4 and every R4 mode saturate."""
    run_array(simulator, seed, 2, 2, 20, JOBS=1, KMAX=12)


@pytest.mark.slow
@pytest.mark.parametrize("rows,cols,acc_width,jobs,kmax", [
    (2, 2, 18, 6, 64),
    (3, 5, 32, 2, 64),
    (4, 4, 32, 4, 256),
    (4, 4, 24, 4, 2000),
    (8, 8, 32, 2, 200),
    (8, 8, 22, 2, 2000),
])
def test_array(simulator, seed, rows, cols, acc_width, jobs, kmax, full):
    """Icarus runs the active array ~10x slower than Verilator: it gets shorter K (the
    saturation K cap still exceeds the R4 and 18-bit UINT4 x UINT4 bounds) unless --full."""
    env = {"JOBS": jobs * (4 if full else 1), "KMAX": kmax}
    if simulator == "icarus" and not full:
        env.update(KMAX=min(kmax, 200), SAT_KMAX=600)
    run_array(simulator, seed, rows, cols, acc_width, **env)
