# amaranth: UnusedElaboratable=no
"""Cycle counts against the documented formulas (Amaranth sim, full rate).

Results alone cannot tell a DUT that takes one beat per clock from one that takes one every
other clock; these tests count cycles with every input valid and every output ready (idle
cycles still carry junk payloads where a stream has them):

* the array: ``max(K, R + 4)`` cycles per tile in steady state, the first result row 5
  cycles after the tile's last beat was accepted (when that beat did not have to wait for
  the previous tile's drain: the first tile, or K >= R + 4), the R rows of a tile on
  consecutive cycles (docs/array.md, :class:`hdl.array.OuterProductArray`);
* the R4 lane, the gradient unit and the read-out (one lane or several): one beat per clock,
  each result on the output ``LATENCY`` cycles after its beat was accepted (6 for the R4
  pipelines, 8 for the read-out);
* the amax tracker: its outputs include a beat ``LATENCY`` cycles after it, not one earlier;
* the backward tile: a tile's first FP16 row ``LATENCY`` (12) cycles after its last gradient
  row was accepted.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from hdl.amax import AmaxTracker
from hdl.array import OuterProductArray
from hdl.backward_tile import BackwardTile
from sim.array_payload import gemm_beats, pack_a
from hdl.gradient_unit import GradientUnit
from hdl.pe import LATENCY
from hdl.r4_quantizer import R4QuantizerLane
from hdl.readout import Readout, ReadoutLanes
from verif.lib.sim_streams import run_full_rate, simulate

#: Cycles from the handshake of a tile's last beat to its first result row (docs/array.md).
ARRAY_LATENCY = 5
#: Cycles from a tile's last gradient row to its first FP16 row: 6 + 5 + 1 (docs/gradient_unit.md).
BACKWARD_TILE_LATENCY = 12
TILES = 5


@pytest.mark.parametrize("rows,cols", [(2, 2), (3, 1)])
def test_array_cycles_per_tile(rows, cols, seed):
    """K below, at and above the drain floor R + 4; tiles back to back."""
    rng = np.random.default_rng(seed)
    floor = rows + LATENCY + 1
    assert floor == rows + 4, "docs/array.md states the floor as R + 4"
    for k in (1, floor - 1, floor, floor + 3):
        a = rng.integers(0, 16, (rows * TILES, k))
        b = rng.integers(0, 16, (k, cols))
        beats = gemm_beats(a, b, rows=rows, cols=cols, a_format="uint4", b_format="r4")
        dut = OuterProductArray(rows, cols, acc_width=32)
        (src_a, _), sink = run_full_rate(dut, [(dut.i_a, beats.a), (dut.i_b, beats.b)], dut.o_c,
                                         beats.tiles * rows, seed)
        firsts = sink.cycles[::rows]
        intervals = np.diff(firsts).tolist()
        assert intervals[1:] == [max(k, floor)] * (TILES - 2), \
            f"K={k}: cycles between tiles {intervals}, documented max(K, R + 4) = {max(k, floor)}"
        # Below the floor a last beat waits in the input register for the previous drain, so
        # only the first tile (and every tile from K = R + 4 on) shows the bare latency.
        latencies = [f - last for f, last in zip(firsts, src_a.cycles[k - 1::k])]
        unheld = latencies if k >= floor else latencies[:1]
        assert unheld == [dut.LATENCY] * len(unheld), \
            f"K={k}: cycles from a tile's last A beat to its first row: {latencies}"
        assert dut.LATENCY == ARRAY_LATENCY, "OuterProductArray.LATENCY differs from the docs"
        rows_of = np.array(sink.cycles).reshape(TILES, rows)
        assert (np.diff(rows_of, axis=1) == 1).all(), f"K={k}: a tile's rows not back to back"


#: The documented latencies (docs/gradient_unit.md), asserted against the components' own.
R4_LATENCY, READOUT_LATENCY = 6, 8


def one_per_clock(dut, i, o, beats, seed, latency):
    assert dut.LATENCY == latency, f"{type(dut).__name__}.LATENCY differs from the docs"
    (source,), sink = run_full_rate(dut, [(i, beats)], o, len(beats), seed)
    assert source.cycles == list(range(len(beats))), "one beat accepted per clock"
    assert sink.cycles == [c + latency for c in source.cycles], \
        f"each result {latency} cycles after its beat"


def test_lane_one_per_clock(seed):
    rnd = random.Random(seed)
    dut = R4QuantizerLane()
    one_per_clock(dut, dut.i, dut.o, [rnd.getrandbits(16) for _ in range(40)], seed,
                  R4_LATENCY)


def test_gradient_unit_one_per_clock(seed):
    rnd = random.Random(seed)
    dut = GradientUnit(3)
    beats = [[rnd.getrandbits(16) for _ in range(3)] for _ in range(40)]
    one_per_clock(dut, dut.i_grad, dut.o_codes, beats, seed, R4_LATENCY)


def test_readout_one_per_clock(seed):
    rnd = random.Random(seed)
    dut = Readout(32)
    beats = [{"acc": rnd.randrange(-2 ** 31, 2 ** 31)} for _ in range(40)]
    one_per_clock(dut, dut.i, dut.o, beats, seed, READOUT_LATENCY)


def test_readout_lanes_one_per_clock(seed):
    rnd = random.Random(seed)
    dut = ReadoutLanes(32, 3)
    beats = [[rnd.randrange(-2 ** 31, 2 ** 31) for _ in range(3)] for _ in range(40)]
    one_per_clock(dut, dut.i, dut.o, beats, seed, READOUT_LATENCY)


@pytest.mark.parametrize("lanes,latency", [(1, 4), (3, 6), (8, 7)])
def test_amax_latency(lanes, latency):
    """A beat raising amax at cycle 0 shows from cycle ``LATENCY`` on, not before; a clear
    with it, as documented (4 + ceil(log2 lanes))."""
    dut = AmaxTracker(lanes)
    assert dut.LATENCY == latency
    seen = []

    async def testbench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.clear, 1)
        ctx.set(dut.i.payload, [0x3C00] * lanes)
        for _ in range(latency + 2):
            seen.append((ctx.get(dut.amax), ctx.get(dut.scale_exp)))
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.clear, 0)

    simulate(dut, testbench)
    assert [a for a, _ in seen] == [0] * latency + [0x3C00] * 2, seen
    assert seen[latency][1] == 6, "the exponent of 1.0 with amax"


@pytest.mark.parametrize("rows,cols,k", [(2, 2, 3), (3, 1, 1)])
def test_backward_tile_latency(rows, cols, k, seed):
    """One tile at full rate, ``o_result`` always ready: its first row is on ``o_result``
    ``LATENCY`` cycles after the handshake of its last ``i_grad`` row."""
    rnd = random.Random(seed)
    dut = BackwardTile(rows, cols, acc_width=32)
    a = pack_a(np.random.default_rng(seed).integers(0, 16, (rows, k)), "uint4")
    grads = [[rnd.getrandbits(16) for _ in range(cols)] for _ in range(k)]
    (_, src_grad), sink = run_full_rate(dut, [(dut.i_a, a), (dut.i_grad, grads)],
                                        dut.o_result, rows, seed)
    assert sink.cycles[0] - src_grad.cycles[-1] == dut.LATENCY, \
        f"last i_grad row accepted at {src_grad.cycles[-1]}, first row out at {sink.cycles[0]}"
    assert dut.LATENCY == BACKWARD_TILE_LATENCY, "BackwardTile.LATENCY differs from the docs"
