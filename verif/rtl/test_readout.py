"""Runner of the read-out converter on its generated Verilog (cocotb, every simulator).

Fast suite: the corner cases plus random accumulators under a dozen offsets (32-bit
accumulator). Slow: widths 18, 32 and 48 under every offset from -256 to 255 (sampled unless
--full) with many more random values.
"""

from __future__ import annotations

import numpy as np
import pytest

from hdl.readout import Readout
from sim.cocotb_run import BUILD, run_cocotb
from verif.lib.stimuli import OFFSETS, corner_accs, random_accs


def run_readout(name, simulator, acc_width, acc, offsets, tb_seed):
    path = BUILD / name / simulator / "vectors.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, acc=acc, offsets=np.array(offsets, dtype=np.int64))
    run_cocotb(Readout(acc_width), name=name, test_module="verif.rtl.tb_readout",
               simulator=simulator,
               env={"READOUT_VECTORS": path, "ACC_WIDTH": acc_width, "TB_SEED": tb_seed})


def test_readout_fast(simulator, seed):
    rng = np.random.default_rng(seed)
    n = 2000 if simulator == "verilator" else 300
    acc = np.concatenate([corner_accs(32), random_accs(rng, 32, n)])
    offsets = OFFSETS if simulator == "verilator" else (-40, -24, 0, 16)
    run_readout("readout_fast", simulator, 32, acc, offsets, seed)


@pytest.mark.slow
@pytest.mark.parametrize("acc_width", [18, 32, 48])
def test_readout_sweep(simulator, seed, full, acc_width):
    if simulator != "verilator":
        pytest.skip("the offset sweep runs under Verilator; Icarus gets the fast subset")
    rng = np.random.default_rng(seed)
    acc = np.concatenate([corner_accs(acc_width), random_accs(rng, acc_width, 4000)])
    offsets = list(range(-256, 256)) if full else sorted(
        set(rng.integers(-256, 256, 24).tolist()) | {-256, -7, 0, 255})
    run_readout(f"readout_sweep_w{acc_width}", simulator, acc_width, acc, offsets, seed)
