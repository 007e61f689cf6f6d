"""cocotb stream source, sink and monitor for the generated Verilog's valid/ready streams.

The cocotb twin of :mod:`verif.lib.sim_streams` (same classes, same attributes). A stream
``name`` of the DUT is its three ports ``<name>__valid``, ``<name>__ready`` and
``<name>__payload``; payloads are integers (:mod:`verif.lib.payload` packs and unpacks them).

- :class:`StreamSource` offers its beats in order. In a cycle its pause generator
  (:mod:`verif.lib.streams`) pauses, it is idle and drives ``valid`` low with a *random payload*
  (junk: the DUT must ignore the payload of an idle cycle); a raised ``valid`` holds its beat
  until accepted, as the stream rules demand.
- :class:`StreamMonitor` records the beats that cross a stream (``valid`` and ``ready``) and
  their cycles, driving nothing.
- :class:`StreamSink` is a monitor that also drives ``ready``, low in the cycles its pause
  generator pauses, until it has ``count`` beats.

:func:`run_streams` steps any number of them on one trigger sequence per cycle: inputs change
at the falling edge, and after ``ReadOnly`` (or at once, for a DUT whose ``valid``/``ready``
come from registers) the handshakes the next rising edge commits are known. Every run counts
its cycles against a :func:`verif.lib.budget.cycle_budget`, so a DUT that loses a beat fails
with what arrived instead of hanging.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from verif.lib.budget import cycle_budget, timeout
from verif.lib.streams import MonitorState, SinkState, SourceState


class StreamPort(NamedTuple):
    """The ``valid``, ``ready`` and ``payload`` handles of stream ``name`` of a DUT."""

    valid: object
    ready: object
    payload: object

    @classmethod
    def of(cls, dut, name: str) -> StreamPort:
        return cls(*(getattr(dut, f"{name}__{s}") for s in ("valid", "ready", "payload")))


async def reset(dut, cycles: int = 2, *, idle=(), clock: bool = True) -> None:
    """Start the clock (C++-side under Verilator; ``clock=False``: it runs already), drive the
    inputs named in ``idle`` to 0 and hold ``rst`` for ``cycles`` falling edges; returns at
    the falling edge that releases it."""
    if clock:
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in idle:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def pulse(dut, name: str) -> None:
    """Raise the one-bit input ``name`` for exactly one clock cycle."""
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 1
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 0


class StreamSource(SourceState):
    """Offers ``beats`` (payload integers) on stream ``name`` of ``dut``, junk when idle
    (:class:`verif.lib.streams.SourceState`: ``idle``, ``rnd``, ``cycles``)."""

    def __init__(self, dut, name: str, beats, *, rnd: random.Random, idle: float = 0.0):
        super().__init__([int(b) for b in beats], rnd=rnd, idle=idle)
        self.port, self.name = StreamPort.of(dut, name), name
        self.width = len(self.port.payload)
        self.valid = None    # as last driven: valid is written only when it changes

    def drive(self) -> None:
        if self.offers():
            self.holding = True
            self.port.payload.value = self.beats[self.sent]
        if not self.holding:
            self.port.payload.value = self.rnd.getrandbits(self.width)
        if self.valid is not self.holding:
            self.port.valid.value = self.valid = self.holding

    def took(self, cycle: int) -> bool:
        """True if the coming edge accepts the held beat (``valid`` and ``ready``)."""
        return self.accepted(self.holding and bool(int(self.port.ready.value)), cycle)

    def stop(self) -> None:
        self.port.valid.value = self.valid = False


class StreamMonitor(MonitorState):
    """Records the payload integers and cycles of the beats that cross stream ``name``."""

    def __init__(self, dut, name: str, count: int):
        super().__init__(count)
        self.port, self.name = StreamPort.of(dut, name), name

    def drive(self) -> None:
        pass

    def fires(self) -> bool:
        return bool(int(self.port.valid.value)) and bool(int(self.port.ready.value))

    def took(self, cycle: int) -> bool:
        fire = self.fires()
        if fire:
            self.record(int(self.port.payload.value), cycle)
        return fire

    def stop(self) -> None:
        pass


class StreamSink(SinkState, StreamMonitor):
    """A :class:`StreamMonitor` that drives ``ready`` (:class:`verif.lib.streams.SinkState`:
    ``stall``, ``rnd``)."""

    def __init__(self, dut, name: str, count: int, *, rnd: random.Random,
                 stall: float = 0.0):
        SinkState.__init__(self, count, rnd=rnd, stall=stall)
        self.port, self.name = StreamPort.of(dut, name), name
        self.driven = None   # ready as last driven: written only when it changes

    def drive(self) -> None:
        self.ready = not self.paused()
        if self.driven is not self.ready:
            self.port.ready.value = self.driven = self.ready

    def fires(self) -> bool:
        return self.ready and bool(int(self.port.valid.value))

    def stop(self) -> None:
        self.port.ready.value = self.driven = False


async def run_streams(dut, sources, sinks, *, budget: int, where: str,
                      registered: bool = False) -> int:
    """Step ``sources`` and ``sinks`` (sinks or monitors) once per cycle until all beats are
    sent and every sink has its count; returns the cycles used, fails after ``budget``.

    ``registered``: the DUT's ``ready`` and ``valid`` outputs come from registers only, so the
    handshakes are read at the falling edge itself (no ``ReadOnly``: half the triggers).
    Sources end idle and sinks not ready, one falling edge after the last handshake.
    """
    cycles = 0
    ports = (*sources, *sinks)
    while not all(s.done for s in ports):
        if cycles == budget:
            raise timeout(budget, where,
                          **{s.name: (s.sent, len(s.beats)) for s in sources},
                          **{s.name: (len(s.got), s.count) for s in sinks})
        await FallingEdge(dut.clk)
        for port in ports:
            port.drive()
        if not registered:
            await ReadOnly()
        for port in ports:
            port.took(cycles)
        cycles += 1
    await FallingEdge(dut.clk)
    for port in ports:
        port.stop()
    return cycles


async def stream_through(dut, beats, *, rnd: random.Random, stall: float,
                         i: str = "i", o: str = "o", latency: int = 16) -> list[int]:
    """Send ``beats`` on stream ``i``, collect as many from stream ``o`` (gaps with junk
    payloads and backpressure, each with probability ``stall``)."""
    n = len(beats)
    sink = StreamSink(dut, o, n, rnd=rnd, stall=stall)
    await run_streams(dut, [StreamSource(dut, i, beats, rnd=rnd, idle=stall)], [sink],
                      where=f"stream {i} -> {o}",
                      budget=cycle_budget(n, idle=stall, stall=stall, latency=latency))
    return sink.got
