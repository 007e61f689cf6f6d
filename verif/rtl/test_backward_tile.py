"""Runner of the end-to-end backward tile (GradientUnit -> array -> read-out), every simulator.

Fast: a 4x4 array, UINT4 and INT4 operand A, both phases and rounding modes, the current and
a fixed GradScale exponent. Slow: a 3x5 array with 18-bit accumulators and long K, so the
accumulators and the read-out saturate, and extreme scale exponents.
"""

from __future__ import annotations

import json

import pytest

from hdl.backward_tile import BackwardTile
from sim.cocotb_run import run_cocotb


def block(a_format, phase, scale_exp, stochastic, *, seed=None, tiles=6, k=12, spread=2):
    return {"a_format": a_format, "phase": phase, "scale_exp": scale_exp,
            "stochastic": stochastic, "seed": seed, "tiles": tiles, "k": k, "spread": spread}


def run_tile(name, simulator, rows, cols, acc_width, blocks, tb_seed):
    run_cocotb(BackwardTile(rows, cols, acc_width), name=name,
               test_module="verif.rtl.tb_backward_tile", simulator=simulator,
               env={"BT_ROWS": rows, "BT_COLS": cols, "BT_ACC_WIDTH": acc_width,
                    "BT_BLOCKS": json.dumps(blocks), "TB_SEED": tb_seed})


def test_backward_tile_fast(simulator, seed):
    blocks = [block("uint4", 0, None, 1), block("int4", 1, None, 0),
              block("uint4", 1, 3, 1, seed=777, k=3), block("int4", 0, -2, 0, k=20)]
    run_tile("backward_tile_fast", simulator, 4, 4, 32, blocks, seed)


@pytest.mark.slow
def test_backward_tile_saturation(simulator, seed):
    blocks = [block("uint4", 0, 0, 0, tiles=4, k=40, spread=0),
              block("uint4", 1, None, 1, seed=99, tiles=4, k=64),
              block("int4", 0, -128, 1, tiles=3, k=5),
              block("int4", 1, 127, 0, tiles=3, k=5),
              block("uint4", 0, -20, 0, tiles=5, k=30, spread=6)]
    run_tile("backward_tile_sat", simulator, 3, 5, 18, blocks, seed)
