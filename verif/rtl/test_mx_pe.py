"""Runner of the MXFP4 PE's cocotb testbench on its generated Verilog, under every simulator.

Golden results come from golden.gemm_mx in the pytest process and travel to the testbench in
an .npz file, with the beats (verif.lib.mx_dots). Fast suite: every E2M1 code pair in one
block each at a random scale, then random dot products of 1..8 blocks whose block exponents
spread over 0..120 binades (fewer under Icarus); slow (``make sim``): full-length K = 4096
dot products and many more short ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from hdl.mx_pe import MxProcessingElement
from verif.lib import mx_dots
from verif.lib.block_pe_sim import run_rtl
from verif.lib.mx_dots import code_pair_dots, random_dot

SPREADS = (0, 2, 4, 8, 16, 30, 40, 60, 120)


def run(name, simulator, dots, seed, k_max):
    run_rtl(MxProcessingElement(k_max=k_max), dots, mx_dots, name=name, simulator=simulator,
            seed=seed)


def test_mx_pe(simulator, seed):
    rng = np.random.default_rng(seed)
    count = 150 if simulator == "verilator" else 40
    dots = code_pair_dots(rng) + [
        random_dot(rng, int(rng.integers(1, 9)), SPREADS[rng.integers(len(SPREADS))])
        for _ in range(count)]
    run("mxfp4_pe_fast", simulator, dots, seed, 4096)


@pytest.mark.slow
def test_mx_pe_long(simulator, seed):
    rng = np.random.default_rng(seed)
    dots = [random_dot(rng, 128, s) for s in (0, 8, 40, 120)] + [
        random_dot(rng, int(rng.integers(1, 17)), SPREADS[rng.integers(len(SPREADS))])
        for _ in range(1000)]
    run("mxfp4_pe_long", simulator, dots, seed, 4096)
