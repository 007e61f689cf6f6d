"""Running a block-scaled FP4 PE (hdl.mx_pe, hdl.nv_pe) in the Amaranth simulator and under
cocotb (verif/rtl/tb_mx_pe.py): what the two PEs' tests share."""

from __future__ import annotations

import random

import numpy as np

from sim.cocotb_run import BUILD, run_cocotb
from verif.lib.budget import cycle_budget
from verif.lib.mx_dots import unpack_result
from verif.lib.sim_streams import StreamSink, StreamSource, run_streams, simulate


def run(dut, beats, count, *, rnd, stall=0.0):
    """Stream ``beats`` into ``dut`` (idle with junk and backpressure, each with probability
    ``stall``) and return the first ``count`` results, with the source's and sink's
    handshake cycles."""
    source = StreamSource(dut.i, beats, rnd=rnd, idle=stall)
    sink = StreamSink(dut.o, count, rnd=rnd, stall=stall, as_int=True)

    async def bench(ctx):
        await run_streams(ctx, [source], [sink], where=f"{type(dut).__name__} o",
                          budget=cycle_budget(len(beats), idle=stall, stall=stall,
                                              latency=dut.LATENCY))

    simulate(dut, bench)
    return [unpack_result(g, dut.acc_width) for g in sink.got], source.cycles, sink.cycles


def check_dots(dut, dots, lib, what: str, *, rnd, stall=0.0, junk=True) -> list:
    """Stream the dot products ``dots`` (a, b, scale_a, scale_b) back to back into ``dut`` and
    assert its results equal golden at its ``frac_bits``; returns golden's. ``lib`` is the
    format's module, verif.lib.mx_dots or verif.lib.nv_dots (its ``dot_beats`` and
    ``golden_dot``); with ``junk`` the beats that end no block carry junk scales and anchor."""
    beats = []
    for a, b, sa, sb in dots:
        beats += lib.dot_beats(a, b, sa, sb, rnd=rnd if junk else None)
    want = [lib.golden_dot(*dot, dut.frac_bits) for dot in dots]
    got = run(dut, beats, len(dots), rnd=rnd, stall=stall)[0]
    assert got == want, first_difference(got, want, dots, what)
    return want


def first_difference(got, want, dots, what: str) -> str:
    """The first result that differs from golden, with its dot product's scales and codes."""
    for k, (g, w) in enumerate(zip(got, want)):
        if g != w:
            a, b, sa, sb = dots[k]
            return (f"{what}: dot {k} (scales {list(sa)}, {list(sb)}, a {list(a)[:8]}..., "
                    f"b {list(b)[:8]}...): got {g}, golden {w}")
    return f"{what}: {len(got)} results for {len(want)} dot products"


def run_rtl(dut, dots, lib, *, name: str, simulator: str, seed: int, stall: float = 0.3):
    """Run the cocotb testbench verif/rtl/tb_mx_pe.py on ``dut``'s Verilog: the dot products
    ``dots`` in (junk on beats that end no block; ``lib`` as :func:`check_dots`), results equal
    to golden's out, in order."""
    rnd = random.Random(seed)
    beats = [beat for dot in dots for beat in lib.dot_beats(*dot, rnd=rnd)]
    want = [lib.golden_dot(*dot, dut.frac_bits) for dot in dots]
    path = BUILD / name / simulator / "dots.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, beats=np.array(beats, np.int64), acc=[w.acc for w in want],
             inexact=[w.inexact for w in want], nan=[w.nan for w in want])
    run_cocotb(dut, name=name, test_module="verif.rtl.tb_mx_pe", simulator=simulator,
               env={"MX_DOTS": path, "ACC_WIDTH": dut.acc_width, "PE_LATENCY": dut.LATENCY,
                    "TB_SEED": seed, "TB_STALL": stall})
