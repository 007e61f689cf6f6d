"""Runner of the N-lane gradient unit on its generated Verilog (cocotb, every simulator).

Fast: 4 lanes, a few thousand random patterns (nearest, then stochastic from the reset seed;
finite-only blocks check amax and the delayed GradScale exponent). Slow: every FP16 pattern
through 1, 3 and 4 lanes in both phases and modes with fixed seeds and extreme exponents.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hdl.gradient_unit import GradientUnit
from sim.cocotb_run import BUILD, run_cocotb


def block(phase, scale_exp, stochastic, seed=None, finite=False):
    return {"phase": phase, "scale_exp": scale_exp, "stochastic": stochastic, "seed": seed,
            "finite": finite}


def run_unit(name, simulator, lanes, patterns, blocks, tb_seed):
    patterns = patterns[:patterns.size // lanes * lanes]
    path = BUILD / name / simulator / "patterns.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, patterns)
    run_cocotb(GradientUnit(lanes), name=name, test_module="verif.rtl.tb_gradient_unit",
               simulator=simulator,
               env={"GU_PATTERNS": path, "GU_BLOCKS": json.dumps(blocks), "GU_LANES": lanes,
                    "TB_SEED": tb_seed})


def test_gradient_unit_fast(simulator, seed):
    rng = np.random.default_rng(seed)
    n = 8000 if simulator == "verilator" else 1200
    patterns = rng.integers(0, 2 ** 16, n).astype(np.uint16)
    blocks = [block(1, 4, 1), block(0, -2, 0, finite=True), block(0, 9, 1, finite=True),
              block(1, -128, 1, seed=12345), block(0, 127, 0)]
    run_unit("gradient_unit_fast", simulator, 4, patterns, blocks, seed)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_gradient_unit_sweep(simulator, seed, lanes):
    if simulator != "verilator":
        pytest.skip("the exhaustive sweep runs under Verilator; Icarus gets the fast subset")
    rng = np.random.default_rng(seed)
    patterns = rng.permutation(np.arange(2 ** 16, dtype=np.uint16))
    blocks = [block(1, 0, 1)]
    # The lane datapath itself is swept in test_r4_quantizer; other lane counts only need to
    # show the draw order and the per-beat sums, so they get fewer configurations.
    configs = ((0, -128), (1, 0), (0, 11), (1, 127)) if lanes == 4 else ((0, -128), (1, 127))
    for phase, g in configs:
        blocks.append(block(phase, g, 0))
        blocks.append(block(phase, g, 1, seed=int(rng.integers(1, 2 ** 32))))
    blocks.append(block(0, 3, 1, finite=True))
    run_unit(f"gradient_unit_sweep_{lanes}", simulator, lanes, patterns, blocks, seed)
