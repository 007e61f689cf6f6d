"""Run the processing-element cocotb testbench on the generated Verilog under each simulator."""

from __future__ import annotations

import pytest

from hdl.pe import ProcessingElement
from sim.cocotb_run import run_cocotb


@pytest.mark.parametrize("acc_width", [18])
def test_pe(simulator, acc_width, seed):
    """Exhaustive code pairs in every mode plus saturating tiles (18 bits: saturation is easy)."""
    run_cocotb(ProcessingElement(acc_width), name=f"pe_w{acc_width}", test_module="verif.rtl.tb_pe",
               simulator=simulator, env={"ACC_WIDTH": acc_width, "SEED": seed})


@pytest.mark.slow
@pytest.mark.parametrize("acc_width", [32, 48])
def test_pe_wide(simulator, acc_width, seed):
    run_cocotb(ProcessingElement(acc_width), name=f"pe_w{acc_width}", test_module="verif.rtl.tb_pe",
               simulator=simulator, env={"ACC_WIDTH": acc_width, "SEED": seed})
