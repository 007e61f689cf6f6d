"""cocotb testbench of the generated MXFP4 and NVFP4 PE Verilog (driven by
verif/rtl/test_mx_pe.py and verif/rtl/test_nv_pe.py).

Environment:
    MX_DOTS      .npz with int64 ``beats`` (payloads of the PE's beat layout) and the golden
                 ``acc``, ``inexact``, ``nan`` of each dot product (golden.gemm_mx, gemm_nv)
    ACC_WIDTH    the PE's accumulator width
    PE_LATENCY   the PE's LATENCY (default hdl.mx_pe.LATENCY), for the cycle budget
    TB_SEED, TB_STALL  seed of the gap/backpressure generator and the idle/stall probability

The beats go in through verif.lib's stream source (idle cycles with junk payloads), the results
come out through its sink (random backpressure); results must equal golden, in order.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np

from hdl.mx_pe import LATENCY
from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
from verif.lib.mx_dots import MxResult, unpack_result


@cocotb.test()
async def random_dots(dut):
    dots = np.load(os.environ["MX_DOTS"])
    acc_width = int(os.environ["ACC_WIDTH"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    beats = [int(b) for b in dots["beats"]]
    want = [MxResult(int(a), bool(i), bool(n)) for a, i, n in
            zip(dots["acc"], dots["inexact"], dots["nan"])]
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} beats={len(beats)} dots={len(want)}")
    rnd = random.Random(tb_seed)

    await reset(dut, idle=("i__valid", "o__ready"))
    sink = StreamSink(dut, "o", len(want), rnd=rnd, stall=stall)
    # Not ``registered``: i.ready is o.ready | ~o.valid, so it follows the sink's ready at once.
    await run_streams(dut, [StreamSource(dut, "i", beats, rnd=rnd, idle=stall)], [sink],
                      where="PE o",
                      budget=cycle_budget(len(beats), idle=stall, stall=stall,
                                          latency=int(os.environ.get("PE_LATENCY", LATENCY))))
    got = [unpack_result(g, acc_width) for g in sink.got]
    assert got == want, next(f"dot {k}: got {g}, golden {w} (TB_SEED={tb_seed})"
                             for k, (g, w) in enumerate(zip(got, want)) if g != w)
    dut._log.info(f"{len(want)} dot products equal to golden")
