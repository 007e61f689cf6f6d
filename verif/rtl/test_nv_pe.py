"""Runner of the NVFP4 PE's cocotb testbench (verif/rtl/tb_mx_pe.py, shared with the MXFP4 PE)
on its generated Verilog, under every simulator.

Golden results come from golden.gemm_nv in the pytest process (verif.lib.nv_dots). Fast suite:
every E2M1 code pair in one block each at a random scale pair, every E4M3 scale code as A's
and as B's against random partners after a block at the top exponent, then random dot products
of 1..8 blocks over the whole exponent range (fewer under Icarus); slow (``make sim``): all
65536 scale pairs, full-length K = 4096 dot products and many short ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.mx import NVFP4_BLOCK
from hdl.nv_pe import NvProcessingElement
from verif.lib import nv_dots
from verif.lib.block_pe_sim import run_rtl
from verif.lib.mx_dots import code_pair_dots
from verif.lib.nv_dots import random_dot

B = NVFP4_BLOCK


def scale_pair_dots(rng, pairs):
    """A block of random codes per scale pair, after an anchor block at the top exponent."""
    return [(rng.integers(0, 16, 2 * B), rng.integers(0, 16, 2 * B), [0x7E, sa], [0x7E, sb])
            for sa, sb in pairs]


def run(name, simulator, dots, seed, k_max=4096):
    run_rtl(NvProcessingElement(k_max=k_max), dots, nv_dots, name=name, simulator=simulator,
            seed=seed)


def test_nv_pe(simulator, seed):
    rng = np.random.default_rng(seed)
    count = 150 if simulator == "verilator" else 40
    partners = rng.integers(0, 256, (256, 2))
    pairs = [(c, int(p)) for c, p in zip(range(256), partners[:, 0])]
    pairs += [(int(p), c) for c, p in zip(range(256), partners[:, 1])]
    dots = code_pair_dots(rng, B, 0x7E) + scale_pair_dots(rng, pairs) + [
        random_dot(rng, int(rng.integers(1, 9)), int(rng.integers(0, 29)))
        for _ in range(count)]
    run("nvfp4_pe_fast", simulator, dots, seed)


@pytest.mark.slow
def test_nv_pe_every_scale_pair(simulator, seed):
    """All 65536 pairs of E4M3 scale codes (Verilator; Icarus takes every 16th pair)."""
    rng = np.random.default_rng(seed)
    pairs = list(np.ndindex(256, 256))
    dots = scale_pair_dots(rng, pairs if simulator == "verilator" else pairs[::16])
    run("nvfp4_pe_scales", simulator, dots, seed, k_max=32)


@pytest.mark.slow
def test_nv_pe_long(simulator, seed):
    rng = np.random.default_rng(seed)
    dots = [random_dot(rng, 256, s) for s in (0, 8, 28)] + [
        random_dot(rng, int(rng.integers(1, 17)), int(rng.integers(0, 29)))
        for _ in range(1000)]
    run("nvfp4_pe_long", simulator, dots, seed)
