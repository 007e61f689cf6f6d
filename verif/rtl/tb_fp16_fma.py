"""cocotb testbench of the FP16 FMA (driven by verif/rtl/test_fp16_fma.py).

Two tests, selected by the runner with ``testcase``:

``core_vectors`` runs on :class:`verif.rtl.test_fp16_fma.Fp16FmaLanes`, several combinational
FMA cores side by side, so one Python step checks ``lanes`` triples: the million-triple run
costs about as many cocotb steps as a few ten thousand cycles.
    FMA_VECTORS  .npz with uint16 arrays ``a``, ``b``, ``c`` and golden ``want``
    FMA_LANES    lanes of the wrapper

``pe_stream`` runs on :class:`hdl.fp16_fma.Fp16FmaPE` with random valid gaps (junk payloads)
and backpressure.
    FMA_TILES    .npz with ``a``, ``b``, ``first``, ``last`` per beat and golden ``want`` per tile
    TB_SEED, TB_STALL  seed of the gap/backpressure generator and the idle probability
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from hdl.fp16_fma import BEAT_LAYOUT
from verif.budget import cycle_budget
from verif.rtl.streams import Sink, Source, reset, run_streams


def _pack(values: np.ndarray) -> int:
    """uint16 lane values -> one flat integer, lane 0 in the low bits (ArrayLayout order)."""
    return int.from_bytes(values.astype("<u2").tobytes(), "little")


def _unpack(value: int, lanes: int) -> np.ndarray:
    return np.frombuffer(value.to_bytes(2 * lanes, "little"), dtype="<u2")


@cocotb.test()
async def core_vectors(dut):
    vectors = np.load(os.environ["FMA_VECTORS"])
    lanes = int(os.environ["FMA_LANES"])
    a, b, c, want = (vectors[k].astype(np.uint16) for k in ("a", "b", "c", "want"))
    pad = -len(a) % lanes
    a, b, c = (np.concatenate([x, np.zeros(pad, np.uint16)]) for x in (a, b, c))
    got = np.empty_like(a)
    for start in range(0, len(a), lanes):
        sl = slice(start, start + lanes)
        dut.a.value = _pack(a[sl])
        dut.b.value = _pack(b[sl])
        dut.c.value = _pack(c[sl])
        await Timer(1, unit="ns")
        got[sl] = _unpack(int(dut.result.value), lanes)
    got = got[:len(want)]
    bad = np.flatnonzero(got != want)
    for i in bad[:10]:
        dut._log.error(f"fma({a[i]:#06x}, {b[i]:#06x}, {c[i]:#06x}) = {got[i]:#06x}, "
                       f"golden {want[i]:#06x}")
    assert bad.size == 0, f"{bad.size} of {len(want)} triples differ from golden"
    dut._log.info(f"{len(want)} triples equal to golden")


@cocotb.test()
async def pe_stream(dut):
    tiles = np.load(os.environ["FMA_TILES"])
    tb_seed = int(os.environ["TB_SEED"])
    stall = float(os.environ.get("TB_STALL", "0.3"))
    dut._log.info(f"TB_SEED={tb_seed} stall={stall} beats={tiles['a'].size}")
    rnd = random.Random(tb_seed)
    beats = [(int(x) << BEAT_LAYOUT["a"].offset) | (int(y) << BEAT_LAYOUT["b"].offset)
             | (int(f) << BEAT_LAYOUT["first"].offset) | (int(l) << BEAT_LAYOUT["last"].offset)
             for x, y, f, l in zip(tiles["a"], tiles["b"], tiles["first"], tiles["last"])]
    want = [int(w) for w in tiles["want"]]

    dut.i_beat__valid.value = 0
    dut.o_acc__ready.value = 0
    await reset(dut)
    sink = Sink(dut, "o_acc", len(want), rnd=rnd, stall=stall)
    await run_streams(dut, [Source(dut, "i_beat", beats, rnd=rnd, idle=stall)], [sink],
                      where="Fp16FmaPE o_acc",
                      budget=cycle_budget(len(beats), idle=stall, stall=stall, latency=16))
    got = sink.got
    assert got == want, next(f"tile {k}: got {g:#06x}, golden {w:#06x}"
                             for k, (g, w) in enumerate(zip(got, want)) if g != w)
    dut._log.info(f"{len(want)} tiles equal to golden")
