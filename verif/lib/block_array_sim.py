"""Running an array of hdl.mx_array (MXFP4 or NVFP4) in the Amaranth simulator on random
tiles: what the two arrays' tests share."""

from __future__ import annotations

import random

from verif.lib.budget import cycle_budget
from verif.lib.mx_tiles import FORMATS, check_tiles, tile_beats
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate


def run_tiles(dut, tiles, *, rnd: random.Random, stall: float, what: str):
    """Stream ``tiles`` back to back (each input idle, with a junk payload, and the output
    stalled with probability ``stall``), check every output against the golden GEMM of the
    array's family; returns the sources' and the sink's handshake cycles."""
    fmt = FORMATS[dut.FAMILY.name]
    a_beats, b_beats, anchors = tile_beats(tiles, fmt)
    n_out = len(tiles) * dut.rows
    sources = [StreamSource(dut.i_a, a_beats, rnd=rnd, idle=stall),
               StreamSource(dut.i_b, b_beats, rnd=rnd, idle=stall),
               StreamSource(dut.i_anchor, anchors, rnd=rnd, idle=stall)]
    sink = StreamSink(dut.o_c, n_out, rnd=rnd, stall=stall, as_int=True)
    budget = cycle_budget(len(a_beats) + n_out, idle=stall, stall=stall,
                          latency=len(tiles) * (dut.rows + dut.LATENCY))

    async def bench(ctx):
        await run_streams(ctx, sources, [sink], budget=budget, where=f"{what}: o_c")

    simulate(dut, bench)
    check_tiles(sink.got, tiles, rows=dut.rows, cols=dut.cols, acc_width=dut.acc_width,
                frac_bits=dut.frac_bits, what=what, fmt=fmt)
    return [s.cycles for s in sources], sink.cycles
