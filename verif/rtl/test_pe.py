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


@pytest.mark.parametrize("acc_width", [18])
def test_pe_int4(simulator, acc_width, seed):
    """The INT4-only PE (r4=False): exhaustive code pairs in its 4 integer modes, random tiles."""
    run_cocotb(ProcessingElement(acc_width, r4=False), name=f"pe_int4_w{acc_width}",
               test_module="verif.rtl.tb_pe", simulator=simulator,
               env={"ACC_WIDTH": acc_width, "SEED": seed, "PE_R4": 0})


@pytest.mark.slow
@pytest.mark.parametrize("acc_width", [32, 48])
def test_pe_wide(simulator, acc_width, seed):
    run_cocotb(ProcessingElement(acc_width), name=f"pe_w{acc_width}", test_module="verif.rtl.tb_pe",
               simulator=simulator, env={"ACC_WIDTH": acc_width, "SEED": seed})
