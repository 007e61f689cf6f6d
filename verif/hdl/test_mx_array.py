# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the MXFP4 array against golden.gemm_mx (equality only).

Random block-scaled tiles back to back on 1x1, 2x3 and 3x2 arrays with idle inputs (junk
payloads), output backpressure and NaN scales; the latency and the no-stall throughput.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from golden.gemm_mx import FRAC_BITS
from golden.mx import MXFP4_BLOCK
from hdl.mx_array import LATENCY, MxOuterProductArray, a_layout
from sim.mx_array_payload import pack_a, pack_anchors, pack_b, tile_anchors, unpack_c
from verif.lib.block_array_sim import run_tiles
from verif.lib.budget import cycle_budget
from verif.lib.mx_dots import MxResult, pe_model
from verif.lib.mx_tiles import random_tile
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate


@pytest.mark.parametrize("rows,cols,count", [(1, 1, 12), (2, 3, 8), (3, 2, 8)])
def test_random_tiles_with_stalls(rows, cols, count, seed):
    """Tiles of 1..4 blocks, exponents spread over 0..120 binades, some NaN scales."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    tiles = [random_tile(rng, rows, cols, int(rng.integers(1, 5)), nan=0.05 * (t % 2))
             for t in range(count)]
    run_tiles(MxOuterProductArray(rows, cols, k_max=128), tiles, rnd=rnd, stall=0.3,
              what=f"seed {seed}, {rows}x{cols}")


def test_nan_scales_and_narrow_window(seed):
    """Many NaN scales in A and B, at frac_bits 4 so that most tiles lose bits."""
    rng, rnd = np.random.default_rng(seed), random.Random(seed)
    tiles = [random_tile(rng, 2, 3, int(rng.integers(1, 4)), nan=0.3, spread=20)
             for _ in range(6)]
    run_tiles(MxOuterProductArray(2, 3, k_max=128, frac_bits=4), tiles, rnd=rnd, stall=0.3,
              what=f"seed {seed}, NaN")


def test_latency_and_back_to_back_tiles():
    """No stall: one beat per cycle with no bubble between tiles, and a tile's first row on
    ``o_c`` LATENCY cycles after its last ``i_a`` handshake."""
    rng = np.random.default_rng(4)
    tiles = [random_tile(rng, 3, 2, blocks) for blocks in (1, 2, 1, 1)]
    dut = MxOuterProductArray(3, 2, k_max=128, frac_bits=FRAC_BITS)
    (sent, _, _), taken = run_tiles(dut, tiles, rnd=random.Random(4), stall=0.0,
                                    what="no stall")
    assert sent == list(range(len(sent)))
    lasts = np.cumsum([a.shape[1] for a, *_ in tiles]) - 1
    assert taken[::3] == [sent[i] + LATENCY for i in lasts]
    assert len(sent) == 5 * MXFP4_BLOCK


def malformed_outputs(tile, block_last, anchors, *, k_max, frac_bits, acc_width):
    """The PE's documented answer (:func:`verif.lib.mx_dots.pe_model`) for every output of a
    tile streamed with ``block_last`` flags and ``anchors`` of our choosing."""
    a, sa, b, sb = tile
    k = a.shape[1]
    return [[pe_model([{"a": a[i, x], "b": b[x, j], "scale_a": sa[i, x // MXFP4_BLOCK],
                        "scale_b": sb[x // MXFP4_BLOCK, j], "anchor": anchors[i, j],
                        "block_last": block_last[x], "last": int(x == k - 1)}
                       for x in range(k)], k_max=k_max, frac_bits=frac_bits,
                      acc_width=acc_width)[0] for j in range(b.shape[1])]
            for i in range(a.shape[0])]


def test_malformed_tiles_get_the_pe_answer():
    """Tiles that break the framing or anchor contract (an early ``block_last``, a missing
    one, more than k_max / 32 blocks, anchors too low), each followed by a good tile: every
    output is the PE's documented answer and the good tiles come out clean."""
    rng, rnd = np.random.default_rng(6), random.Random(6)
    dut = MxOuterProductArray(2, 2, k_max=64)
    a_beats, b_beats, anchor_beats, want = [], [], [], []
    flag = 1 << a_layout(2)["block_last"].offset
    for case in ("early", "missing", "long", "low", "good"):
        for broken in (case != "good", False):
            a, sa, b, sb = tile = random_tile(rng, 2, 2, 3 if case == "long" and broken else 2,
                                              spread=8)
            beats = pack_a(a, sa)
            block_last = [int(x % MXFP4_BLOCK == MXFP4_BLOCK - 1) for x in range(len(beats))]
            anchors = tile_anchors(sa, sb)
            if broken and case in ("early", "missing"):
                x = 20 if case == "early" else 31
                beats[x] ^= flag
                block_last[x] ^= 1
            if broken and case == "low":
                anchors = anchors - 3
            a_beats += beats
            b_beats += pack_b(b, sb)
            anchor_beats.append(pack_anchors(anchors))
            want.append(malformed_outputs(tile, block_last, anchors, k_max=64,
                                          frac_bits=dut.frac_bits, acc_width=dut.acc_width))
    sources = [StreamSource(dut.i_a, a_beats, rnd=rnd, idle=0.2),
               StreamSource(dut.i_b, b_beats, rnd=rnd, idle=0.2),
               StreamSource(dut.i_anchor, anchor_beats, rnd=rnd, idle=0.2)]
    sink = StreamSink(dut.o_c, 2 * len(want), rnd=rnd, stall=0.2, as_int=True)

    async def bench(ctx):
        await run_streams(ctx, sources, [sink], where="malformed tiles: o_c",
                          budget=cycle_budget(len(a_beats), idle=0.2, stall=0.2))

    simulate(dut, bench)
    out = unpack_c(sink.got, 2, dut.acc_width)
    got = [[MxResult(int(out["acc"][r, j]), *(bool(out[n][r, j]) for n in
                                              ("inexact", "nan", "malformed")))
            for j in range(2)] for r in range(len(sink.got))]
    assert got == [row for tile in want for row in tile]
    assert [any(r.malformed for row in tile for r in row) for tile in want] == (
        [True, False] * 4 + [False, False])


@pytest.mark.parametrize("kwargs,error,message", [
    ({"rows": 0}, TypeError, "rows must be a positive integer, not 0"),
    ({"cols": 2.0}, TypeError, "cols must be a positive integer, not 2.0"),
    ({"k_max": 48}, ValueError, "k_max must be a positive multiple of 32"),
    ({"frac_bits": -1}, ValueError, "frac_bits must be in 0..39, not -1"),
])
def test_bad_parameters_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        MxOuterProductArray(**kwargs)


def test_parameters_exposed():
    dut = MxOuterProductArray(3, 5, k_max=256, frac_bits=8)
    assert (dut.rows, dut.cols, dut.k_max, dut.frac_bits) == (3, 5, 256, 8)
    assert dut.acc_width == MxOuterProductArray(1, 1, 256, 8).acc_width
    assert MxOuterProductArray().acc_width == 45
