"""Runner of the R4 quantizer lane on its generated Verilog (cocotb, every simulator).

The fast suite streams all 65536 FP16 patterns in two configurations under Verilator (and a
few thousand random patterns under Icarus, which is ~5x slower), stochastic from the
generator's reset value; the slow sweep covers every pattern in both phases, both rounding
modes and scale exponents from -128 to 127, stochastic from seeds drawn from the run's seed
plus the constant seeds ``FIXED_SEEDS`` on the patterns in ascending order (on a subset of
exponents, ``FIXED_SEED_SCALE_EXPS``, to keep the sweep's time): those blocks are the same in
every run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hdl.r4_quantizer import R4QuantizerLane
from sim.cocotb_run import BUILD, run_cocotb

ALL_PATTERNS = np.arange(2 ** 16, dtype=np.uint16)
SWEEP_SCALE_EXPS = (-128, -20, -9, 0, 1, 13, 30, 127)
FULL_SCALE_EXPS = tuple(range(-128, 128, 5)) + (127,)
#: Stochastic seeds that every sweep runs, whatever the run's seed (each in both phases).
FIXED_SEEDS = (1, 0xDEADBEEF)
FIXED_SEED_SCALE_EXPS = (0, 13)


def block(phase, scale_exp, stochastic, seed=None, ascending=False):
    return {"phase": phase, "scale_exp": scale_exp, "stochastic": stochastic, "seed": seed,
            "ascending": ascending}


def run_lane(name, simulator, patterns, blocks, tb_seed, stall=0.3):
    path = BUILD / name / simulator / "patterns.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, patterns)
    run_cocotb(R4QuantizerLane(), name=name, test_module="verif.rtl.tb_r4_quantizer",
               simulator=simulator,
               env={"R4_PATTERNS": path, "R4_BLOCKS": json.dumps(blocks), "TB_SEED": tb_seed,
                    "TB_STALL": stall})


def test_lane_fast(simulator, seed):
    """Reset-seeded stochastic then nearest, phase 1 and a non-zero scale exponent."""
    if simulator == "verilator":
        patterns = ALL_PATTERNS
    else:
        patterns = np.random.default_rng(seed).integers(0, 2 ** 16, 3000).astype(np.uint16)
    blocks = [block(1, 5, 1), block(0, -3, 0)]
    run_lane("r4_quantizer_fast", simulator, patterns, blocks, seed)


@pytest.mark.slow
def test_lane_sweep(simulator, seed, full):
    """Every pattern, both phases and rounding modes, scale exponents including -128 and 127.

    Stochastic blocks use seeds drawn from the run's seed and, at two exponents, the constant
    ``FIXED_SEEDS`` on the patterns in ascending order, so those blocks are the same in every
    run (the TB logs every block with its seed).
    """
    if simulator != "verilator":
        pytest.skip("the exhaustive sweep runs under Verilator; Icarus gets the fast subset")
    rng = np.random.default_rng(seed)
    patterns = rng.permutation(ALL_PATTERNS)
    blocks = []
    for g in FULL_SCALE_EXPS if full else SWEEP_SCALE_EXPS:
        for phase in (0, 1):
            blocks.append(block(phase, g, 0))
            blocks.append(block(phase, g, 1, seed=int(rng.integers(1, 2 ** 32))))
    for fixed in FIXED_SEEDS:
        for g in FIXED_SEED_SCALE_EXPS:
            for phase in (0, 1):
                blocks.append(block(phase, g, 1, seed=fixed, ascending=True))
    print(f"fixed stochastic seeds {[hex(s) for s in FIXED_SEEDS]} at scale exponents "
          f"{FIXED_SEED_SCALE_EXPS}")
    run_lane("r4_quantizer_sweep", simulator, patterns, blocks, seed, stall=0.2)
