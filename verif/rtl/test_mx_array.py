"""Run the MXFP4-array cocotb testbench (verif/rtl/tb_mx_array.py) on the generated Verilog
under each simulator: a 2x2 array, random tiles against golden.gemm_mx (fewer under Icarus)."""

from __future__ import annotations

from hdl.mx_array import MxOuterProductArray
from sim.cocotb_run import run_cocotb


def test_mx_array(simulator, seed):
    dut = MxOuterProductArray(2, 2, k_max=128)
    run_cocotb(dut, name="mxfp4_array_2x2_k128", test_module="verif.rtl.tb_mx_array",
               simulator=simulator,
               env={"ROWS": 2, "COLS": 2, "K_MAX": 128, "FRAC_BITS": dut.frac_bits,
                    "ACC_WIDTH": dut.acc_width, "SEED": seed,
                    "TILES": 40 if simulator == "verilator" else 30})
