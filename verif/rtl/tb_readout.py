"""cocotb testbench of the read-out converter (driven by verif/rtl/test_readout.py).

Environment:
    READOUT_VECTORS  .npz with ``acc`` (int64 accumulators) and ``offsets`` (exp_offset per
                     block); every block streams all accumulators
    ACC_WIDTH        accumulator width of the design
    TB_SEED, TB_STALL  random valid gaps and backpressure, as in tb_r4_quantizer

Results are compared as whole arrays with golden.gemm.readout (FP16 bit patterns and flags).
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np

from golden.gemm import readout
from hdl.readout import READOUT_OUT_LAYOUT, readout_in_layout
from verif.lib.cocotb_streams import reset, stream_through
from verif.lib.payload import field


@cocotb.test()
async def readout_matches_golden(dut):
    vectors = np.load(os.environ["READOUT_VECTORS"])
    acc, offsets = vectors["acc"].astype(np.int64), [int(o) for o in vectors["offsets"]]
    acc_width = int(os.environ["ACC_WIDTH"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} acc_width={acc_width} values={acc.size} "
                  f"offsets={offsets}")
    rnd = random.Random(tb_seed)
    in_layout = readout_in_layout(acc_width)
    beats = (acc & ((1 << acc_width) - 1)) << in_layout["acc"].offset

    await reset(dut, idle=("i__valid", "o__ready"))
    for offset in offsets:
        dut.exp_offset.value = offset & 0x1FF
        got = np.array(await stream_through(dut, beats, rnd=rnd, stall=stall), dtype=np.int64)
        ref = readout(acc, exp_offset=offset, flags=True)
        np.testing.assert_array_equal(field(got, READOUT_OUT_LAYOUT, "value"),
                                      ref.values.view(np.uint16), err_msg=f"offset {offset}")
        np.testing.assert_array_equal(field(got, READOUT_OUT_LAYOUT, "overflow"), ref.overflow,
                                      err_msg=f"overflow, offset {offset}")
    dut._log.info(f"{acc.size} values x {len(offsets)} offsets equal to golden")
