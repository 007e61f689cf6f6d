"""cocotb testbench of the floating-point MAC PEs, FP16 FMA and FP8 MAC (driven by
verif/rtl/test_fp16_fma.py and verif/rtl/test_fp8_mac.py).

Two tests, selected by the runner with ``testcase``; the runner names the PE:
    MAC_PE       ``fp16`` (hdl.fp16_fma, 16-bit operands and accumulator), ``fp16_pipelined``
                 (the same numbers, L dot products interleaved: the runner interleaves the
                 tiles, verif.lib.stimuli.interleave_tiles, and orders ``want`` by their last
                 beats) or ``fp8`` (hdl.fp8_mac, 8-bit E4M3 operands, 32-bit FP32 accumulator)

``core_vectors`` runs on the runner's lanes wrapper, several combinational MAC cores side by
side, so one Python step checks ``lanes`` triples.
    MAC_VECTORS  .npz with operand codes ``a``, ``b``, accumulators ``c`` and golden ``want``
    MAC_LANES    lanes of the wrapper

``pe_stream`` runs on the stream PE with random valid gaps (junk payloads) and backpressure.
    MAC_TILES    .npz with ``a``, ``b``, ``first``, ``last`` per beat and golden ``want`` per tile
    TB_SEED, TB_STALL  seed of the gap/backpressure generator and the idle probability
"""

from __future__ import annotations

import importlib
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from verif.lib.budget import cycle_budget
from verif.lib.cocotb_streams import StreamSink, StreamSource, reset, run_streams
from verif.lib.payload import pack, pack_array

#: Per PE: its module, operand and accumulator widths, and the name its stream reports use.
PES = {"fp16": ("hdl.fp16_fma", 16, 16, "Fp16FmaPE"),
       "fp16_pipelined": ("hdl.fp16_fma", 16, 16, "Fp16FmaPipelinedPE"),
       "fp8": ("hdl.fp8_mac", 8, 32, "Fp8MacPE")}


def _pe():
    module, op_bits, acc_bits, where = PES[os.environ["MAC_PE"]]
    return importlib.import_module(module), op_bits, acc_bits, where


@cocotb.test()
async def core_vectors(dut):
    _, op_bits, acc_bits, _ = _pe()
    vectors = np.load(os.environ["MAC_VECTORS"])
    lanes = int(os.environ["MAC_LANES"])
    acc_type = np.dtype(f"<u{acc_bits // 8}")
    a, b, c, want = (vectors[k].astype(np.int64) for k in ("a", "b", "c", "want"))
    pad = -len(a) % lanes
    a, b, c = (np.concatenate([x, np.zeros(pad, x.dtype)]) for x in (a, b, c))
    got = np.empty(len(a), acc_type)
    for start in range(0, len(a), lanes):
        sl = slice(start, start + lanes)
        dut.a.value = pack_array(a[sl].tolist(), op_bits)
        dut.b.value = pack_array(b[sl].tolist(), op_bits)
        dut.c.value = pack_array(c[sl].tolist(), acc_bits)
        await Timer(1, unit="ns")
        got[sl] = np.frombuffer(int(dut.result.value).to_bytes(acc_type.itemsize * lanes,
                                                               "little"), acc_type)
    got = got[:len(want)]
    bad = np.flatnonzero(got != want)
    digits = acc_bits // 4 + 2
    for i in bad[:10]:
        dut._log.error(f"{c[i]:#0{digits}x} + {a[i]:#0{op_bits // 4 + 2}x} * "
                       f"{b[i]:#0{op_bits // 4 + 2}x} = {got[i]:#0{digits}x}, "
                       f"golden {want[i]:#0{digits}x}")
    assert bad.size == 0, f"{bad.size} of {len(want)} triples differ from golden"
    dut._log.info(f"{len(want)} triples equal to golden")


@cocotb.test()
async def pe_stream(dut):
    module, _, acc_bits, where = _pe()
    tiles = np.load(os.environ["MAC_TILES"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} beats={tiles['a'].size}")
    rnd = random.Random(tb_seed)
    beats = [pack(module.BEAT_LAYOUT, a=x, b=y, first=f, last=l)
             for x, y, f, l in zip(tiles["a"], tiles["b"], tiles["first"], tiles["last"])]
    want = [int(w) for w in tiles["want"]]

    await reset(dut, idle=("i__valid", "o__ready"))
    sink = StreamSink(dut, "o", len(want), rnd=rnd, stall=stall)
    await run_streams(dut, [StreamSource(dut, "i", beats, rnd=rnd, idle=stall)], [sink],
                      where=f"{where} o",
                      budget=cycle_budget(len(beats), idle=stall, stall=stall, latency=16))
    got = sink.got
    digits = acc_bits // 4 + 2
    assert got == want, next(f"tile {k}: got {g:#0{digits}x}, golden {w:#0{digits}x}"
                             for k, (g, w) in enumerate(zip(got, want)) if g != w)
    dut._log.info(f"{len(want)} tiles equal to golden")
