"""cocotb testbench of the FP8 MAC (driven by verif/rtl/test_fp8_mac.py).

Two tests, selected by the runner with ``testcase``:

``core_vectors`` runs on :class:`verif.rtl.test_fp8_mac.Fp8MacLanes`, several combinational
MAC cores side by side, so one Python step checks ``lanes`` triples.
    MAC_VECTORS  .npz with E4M3 codes ``a``, ``b`` (uint8), FP32 accumulators ``c`` (uint32)
                 and golden ``want`` (uint32)
    MAC_LANES    lanes of the wrapper

``pe_stream`` runs on :class:`hdl.fp8_mac.Fp8MacPE` with random valid gaps (junk payloads)
and backpressure.
    MAC_TILES    .npz with ``a``, ``b``, ``first``, ``last`` per beat and golden ``want`` per tile
    TB_SEED, TB_STALL  seed of the gap/backpressure generator and the idle probability
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from hdl.fp8_mac import BEAT_LAYOUT
from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
from verif.lib.payload import pack, pack_array


@cocotb.test()
async def core_vectors(dut):
    vectors = np.load(os.environ["MAC_VECTORS"])
    lanes = int(os.environ["MAC_LANES"])
    a, b, c, want = (vectors[k] for k in ("a", "b", "c", "want"))
    pad = -len(a) % lanes
    a, b, c = (np.concatenate([x, np.zeros(pad, x.dtype)]) for x in (a, b, c))
    got = np.empty(len(a), np.uint32)
    for start in range(0, len(a), lanes):
        sl = slice(start, start + lanes)
        dut.a.value = pack_array(a[sl].tolist(), 8)
        dut.b.value = pack_array(b[sl].tolist(), 8)
        dut.c.value = pack_array(c[sl].tolist(), 32)
        await Timer(1, unit="ns")
        got[sl] = np.frombuffer(int(dut.result.value).to_bytes(4 * lanes, "little"), "<u4")
    got = got[:len(want)]
    bad = np.flatnonzero(got != want)
    for i in bad[:10]:
        dut._log.error(f"{c[i]:#010x} + {a[i]:#04x} * {b[i]:#04x} = {got[i]:#010x}, "
                       f"golden {want[i]:#010x}")
    assert bad.size == 0, f"{bad.size} of {len(want)} triples differ from golden"
    dut._log.info(f"{len(want)} triples equal to golden")


@cocotb.test()
async def pe_stream(dut):
    tiles = np.load(os.environ["MAC_TILES"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} beats={tiles['a'].size}")
    rnd = random.Random(tb_seed)
    beats = [pack(BEAT_LAYOUT, a=x, b=y, first=f, last=l)
             for x, y, f, l in zip(tiles["a"], tiles["b"], tiles["first"], tiles["last"])]
    want = [int(w) for w in tiles["want"]]

    await reset(dut, idle=("i_beat__valid", "o_acc__ready"))
    sink = StreamSink(dut, "o_acc", len(want), rnd=rnd, stall=stall)
    await run_streams(dut, [StreamSource(dut, "i_beat", beats, rnd=rnd, idle=stall)], [sink],
                      where="Fp8MacPE o_acc",
                      budget=cycle_budget(len(beats), idle=stall, stall=stall, latency=16))
    got = sink.got
    assert got == want, next(f"tile {k}: got {g:#010x}, golden {w:#010x}"
                             for k, (g, w) in enumerate(zip(got, want)) if g != w)
    dut._log.info(f"{len(want)} tiles equal to golden")
