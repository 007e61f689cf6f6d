"""Stream source, sink and monitor for the Amaranth simulator: random gaps, junk, backpressure.

The Amaranth-simulator twin of :mod:`verif.lib.cocotb_streams` (same classes, same
attributes), on the stream ports of a component rather than on Verilog port names.
:class:`StreamSource` offers beats on one stream, :class:`StreamSink` takes them from one,
:class:`StreamMonitor` records the beats that cross one; all are stepped once per cycle by a
testbench loop (:func:`run_streams`, or a test's own loop that also drives control inputs), so
several streams and the DUT's side inputs share one clock and one order of events:

1. ``drive(ctx)`` for every source and sink sets this cycle's inputs: a source whose pause
   generator (:mod:`verif.lib.streams`) pauses is idle and drives ``valid`` low with a *random
   payload* (junk: a DUT must ignore the payload of an idle cycle); a raised ``valid`` holds
   its beat until it is accepted, as the stream rules demand; a pausing sink is not ready;
2. the test reads what it wants to check (the settled outputs of this cycle);
3. ``took(ctx, cycle)`` records the handshakes the coming clock edge completes;
4. ``await ctx.tick()``.

Every loop counts its cycles against a budget (:mod:`verif.lib.budget`), so a DUT that loses
a beat fails with what arrived instead of hanging.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from amaranth.hdl import Value
from amaranth.sim import Simulator

from verif.lib.budget import cycle_budget, timeout
from verif.lib.streams import MonitorState, SinkState, SourceState

#: Clock period of every Amaranth-simulator test (``sim.add_clock(PERIOD)``).
PERIOD = 1e-8


def junk(rnd: random.Random, port) -> int:
    """A random payload for ``port`` (all bits random), driven while ``valid`` is low."""
    return rnd.getrandbits(len(Value.cast(port.payload)))


def set_payload(ctx, port, beat) -> None:
    """Drive ``beat`` on ``port.payload``: an int (all bits) or what ``ctx.set`` takes for the
    payload's layout (a dict for a StructLayout, a list for an ArrayLayout)."""
    if isinstance(beat, int):
        ctx.set(Value.cast(port.payload), beat)
    else:
        ctx.set(port.payload, beat)


class StreamSource(SourceState):
    """Offers ``beats`` on stream ``port``, junk payloads when idle
    (:class:`verif.lib.streams.SourceState`: ``idle``, ``rnd``, ``cycles``)."""

    def __init__(self, port, beats, *, rnd: random.Random, idle: float = 0.0):
        super().__init__(beats, rnd=rnd, idle=idle)
        self.port = port

    def drive(self, ctx) -> None:
        if self.offers():
            self.holding = True
            set_payload(ctx, self.port, self.beats[self.sent])
        if not self.holding:
            set_payload(ctx, self.port, junk(self.rnd, self.port))
        ctx.set(self.port.valid, self.holding)

    def took(self, ctx, cycle: int) -> bool:
        """True if the coming edge accepts the held beat (``valid`` and ``ready``)."""
        return self.accepted(self.holding and bool(ctx.get(self.port.ready)), cycle)

    def stop(self, ctx) -> None:
        ctx.set(self.port.valid, 0)


class StreamMonitor(MonitorState):
    """Records the beats that cross stream ``port`` and their cycles; done after ``count``.

    ``got`` holds the payloads (as ``ctx.get`` returns them, or as plain ints with
    ``as_int``).
    """

    def __init__(self, port, count: int, *, as_int: bool = False):
        super().__init__(count)
        self.port = port
        self.payload = Value.cast(port.payload) if as_int else port.payload

    def drive(self, ctx) -> None:
        pass

    def fires(self, ctx) -> bool:
        return bool(ctx.get(self.port.valid)) and bool(ctx.get(self.port.ready))

    def took(self, ctx, cycle: int) -> bool:
        fire = self.fires(ctx)
        if fire:
            self.record(ctx.get(self.payload), cycle)
        return fire

    def stop(self, ctx) -> None:
        pass


class StreamSink(SinkState, StreamMonitor):
    """A :class:`StreamMonitor` that drives ``ready`` (:class:`verif.lib.streams.SinkState`:
    ``stall``, ``rnd``)."""

    def __init__(self, port, count: int, *, rnd: random.Random, stall: float = 0.0,
                 as_int: bool = False):
        SinkState.__init__(self, count, rnd=rnd, stall=stall)
        self.port = port
        self.payload = Value.cast(port.payload) if as_int else port.payload

    def drive(self, ctx) -> None:
        self.ready = not self.paused()
        ctx.set(self.port.ready, self.ready)

    def fires(self, ctx) -> bool:
        return self.ready and bool(ctx.get(self.port.valid))

    def stop(self, ctx) -> None:
        ctx.set(self.port.ready, 0)


async def run_streams(ctx, sources, sinks, *, budget: int, where: str,
                      each_cycle: Callable | None = None) -> int:
    """Step ``sources`` and ``sinks`` until every beat is sent and every sink has its count.

    ``each_cycle(ctx, cycle)``, if given, runs after the drivers and before the handshakes are
    recorded (to drive or check side inputs). Returns the number of cycles run; fails with
    :func:`verif.lib.budget.timeout` after ``budget`` cycles. Sources end idle, sinks not ready.
    """
    cycle = 0
    while not all(s.done for s in sources) or not all(s.done for s in sinks):
        if cycle == budget:
            raise timeout(budget, where,
                          **{f"in{i}": (s.sent, len(s.beats)) for i, s in enumerate(sources)},
                          **{f"out{i}": (len(s.got), s.count) for i, s in enumerate(sinks)})
        for port in (*sources, *sinks):
            port.drive(ctx)
        if each_cycle is not None:
            each_cycle(ctx, cycle)
        for port in (*sources, *sinks):
            port.took(ctx, cycle)
        await ctx.tick()
        cycle += 1
    for port in (*sources, *sinks):
        port.stop(ctx)
    return cycle


def add_watchdog(sim, cycles: int, where: str,
                 progress: Callable[[], dict[str, tuple[int, int]]]) -> None:
    """Fail ``sim.run()`` if it has not finished after ``cycles`` clock periods.

    A background testbench sleeps for the whole budget in one timer (no per-cycle work) and
    then raises :func:`verif.lib.budget.timeout` with ``progress()``: what arrived and what was
    expected by then. A run that finishes earlier never wakes it.
    """
    async def watchdog(ctx):
        await ctx.delay(cycles * PERIOD)
        raise timeout(cycles, where, **progress())

    sim.add_testbench(watchdog, background=True)


async def stream_through(ctx, i, o, payloads, *, rnd: random.Random, stall: float,
                         latency: int = 16) -> list:
    """Send ``payloads`` on stream ``i`` and collect as many payloads from stream ``o``.

    The input is idle (junk payload) with probability ``stall`` and the output not ready with
    probability ``stall``, so every handshake state of both streams occurs. A payload is an
    int or what ``ctx.set`` takes for ``i.payload``. A DUT that loses a beat fails once the
    cycles exceed :func:`verif.lib.budget.cycle_budget` of the payloads (``latency``: the DUT's
    pipeline depth).
    """
    n = len(payloads)
    source = StreamSource(i, payloads, rnd=rnd, idle=stall)
    sink = StreamSink(o, n, rnd=rnd, stall=stall)
    await run_streams(ctx, [source], [sink], where="stream_through",
                      budget=cycle_budget(n, idle=stall, stall=stall, latency=latency))
    return sink.got


def run_full_rate(dut, inputs, output, count: int, seed: int):
    """Stream ``inputs`` ((port, beats) pairs) into ``dut`` with no idle cycle and take
    ``count`` beats from stream ``output``, always ready: the (sources, sink), whose
    ``cycles`` give each handshake's cycle (what a ``LATENCY`` check compares)."""
    rnd = random.Random(seed)
    sources = [StreamSource(port, beats, rnd=rnd) for port, beats in inputs]
    sink = StreamSink(output, count, rnd=rnd)
    beats = max(len(s.beats) for s in sources) + count

    async def testbench(ctx):
        await run_streams(ctx, sources, [sink], budget=cycle_budget(beats, latency=64),
                          where=f"{type(dut).__name__} at full rate")

    simulate(dut, testbench)
    return sources, sink


def tile_latencies(dut, beats, seed: int) -> list[int]:
    """Stream ``beats`` (payloads with a ``last`` field) into ``dut.i`` at full rate with
    ``dut.o`` always ready: per tile, the cycles from its ``last`` beat's handshake to its
    result on ``o`` (what ``LATENCY`` states for a PE that answers once per tile)."""
    lasts = [k for k, beat in enumerate(beats) if beat["last"]]
    (source,), sink = run_full_rate(dut, [(dut.i, beats)], dut.o, len(lasts), seed)
    return [out - source.cycles[k] for out, k in zip(sink.cycles, lasts)]


def simulate(dut, *testbenches) -> None:
    """Run ``testbenches`` (async functions of ``ctx``) on ``dut`` with a :data:`PERIOD`
    clock until all of them return."""
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    sim.run()
