"""cocotb testbench: quantized training steps executed by the generated TrainingUnits Verilog.

Environment: ``MODEL`` (mlp/cnn), ``ROWS``, ``COLS``, ``ACC_WIDTH``, ``STEPS`` (optimizer steps),
``BATCH`` (empty: the model's), ``TRAIN_N`` / ``TEST_N`` (digits images used, 0: all), ``SEED``,
``IDLE`` / ``STALL`` (probabilities of an idle input / a withheld ``ready`` per cycle).

The steps run through :func:`sim.train_rtl.run` with :class:`sim.cocotb_engine.CocotbEngine`:
every GEMM, gradient quantization (with its amax) and read-out of the steps and of the test
evaluation runs on the DUT, each compared for equality with the golden model as it happens,
and an independent golden run of the same steps must give the same losses, accuracies and
counters.
"""

from __future__ import annotations

import os

import cocotb
from cocotb.task import bridge

from experiments.data import Dataset, load_digits_split
from sim.cocotb_engine import CocotbEngine
from sim.train_rtl import run

ENV = os.environ


def _subset(data: Dataset, n_train: int, n_test: int) -> Dataset:
    n_train = n_train or len(data.x_train)
    n_test = n_test or len(data.x_test)
    return Dataset(data.x_train[:n_train], data.y_train[:n_train], data.x_test[:n_test],
                  data.y_test[:n_test])


@cocotb.test()
async def train_steps(dut):
    seed = int(ENV.get("SEED", "1"))
    dut._log.info(f"seed={seed}")
    engine = CocotbEngine(dut, int(ENV["ROWS"]), int(ENV["COLS"]), int(ENV.get("ACC_WIDTH", 32)),
                          seed=seed, idle=float(ENV.get("IDLE", "0.2")),
                          stall=float(ENV.get("STALL", "0.2")))
    await engine.start()
    data = _subset(load_digits_split(), int(ENV.get("TRAIN_N", "0")), int(ENV.get("TEST_N", "0")))
    batch = int(ENV["BATCH"]) if ENV.get("BATCH") else None
    report = await bridge(run)(ENV.get("MODEL", "mlp"), epochs=1,
                                      max_steps=int(ENV.get("STEPS", "1")), batch=batch,
                                      engine=engine, data=data, progress=False)
    dut._log.info(f"{report['steps']} steps, cycles {report['sim_cycles']}, "
                  f"{report['compared_arrays']} arrays compared, loss {report['train_loss']}")
    assert report["steps"] == int(ENV.get("STEPS", "1"))
    assert report["compared_arrays"] > 0
    assert report["bit_exact"], "the RTL run and the golden run differ"
