"""Training steps on the RTL: cocotb engine under each simulator, native engine, full run.

The fast cases (a step of each model on a small array, a few images) are in ``make test``;
steps at the models' real batch on the 8x8 array run in ``make sim`` (slow marker).
"""

from __future__ import annotations

import pytest

from hdl.training_units import TrainingUnits
from sim.cocotb_run import run_cocotb
from sim.rtl_backend import design_name


def run_steps(simulator, seed, rows, cols, **env):
    run_cocotb(TrainingUnits(rows, cols, 32), name=design_name(rows, cols, 32),
               test_module="verif.rtl.tb_train_rtl", simulator=simulator,
               env={"ROWS": rows, "COLS": cols, "SEED": seed, **env})


def test_train_step_cocotb_fast(simulator, seed):
    """Two MLP steps at batch 2 on a 4x4 array (with stalls), evaluated on 2 test images."""
    run_steps(simulator, seed, 4, 4, MODEL="mlp", STEPS=2, BATCH=2, TRAIN_N=64, TEST_N=2)


@pytest.mark.slow
@pytest.mark.parametrize("model,steps", [("mlp", 2), ("cnn", 1)])
def test_train_steps_cocotb(simulator, seed, model, steps, full):
    """Steps at the model's own batch (64) on the 8x8 array, with stalls; twice as many steps
    with --full. Icarus, about ten times slower, runs batch 8 unless --full."""
    env = {"MODEL": model, "STEPS": steps * (2 if full else 1), "TRAIN_N": 256, "TEST_N": 16}
    if simulator == "icarus" and not full:
        env.update(BATCH=8, TEST_N=4)
    run_steps(simulator, seed, 8, 8, **env)
