"""Run the block-scaled array cocotb testbench (verif/rtl/tb_mx_array.py) on the generated
Verilog under each simulator: a 2x2 MXFP4 and a 2x2 NVFP4 array, random tiles against
golden.gemm_mx / golden.gemm_nv (fewer under Icarus)."""

from __future__ import annotations

import pytest

from hdl.mx_array import MxOuterProductArray, NvOuterProductArray
from sim.cocotb_run import run_cocotb


@pytest.mark.parametrize("array", [MxOuterProductArray, NvOuterProductArray],
                         ids=["mxfp4", "nvfp4"])
def test_mx_array(array, simulator, seed):
    dut = array(2, 2, k_max=128)
    family = dut.FAMILY.name
    run_cocotb(dut, name=f"{family.lower()}_array_2x2_k128", simulator=simulator,
               test_module="verif.rtl.tb_mx_array",
               env={"FAMILY": family, "ROWS": 2, "COLS": 2, "K_MAX": 128,
                    "FRAC_BITS": dut.frac_bits, "ACC_WIDTH": dut.acc_width, "SEED": seed,
                    "TILES": 40 if simulator == "verilator" else 30})
