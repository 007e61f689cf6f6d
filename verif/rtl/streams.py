"""cocotb drivers and monitors for the generated Verilog's valid/ready streams.

The cocotb counterpart of :mod:`verif.hdl.streams`: a :class:`Source` offers beats on one
stream (ports ``<name>__valid``, ``<name>__ready``, ``<name>__payload``) and is idle with
probability ``idle``, driving ``valid`` low with a *random payload* (junk: the DUT must ignore
the payload of an idle cycle); a raised ``valid`` holds its beat until accepted. A
:class:`Sink` withholds ``ready`` with probability ``stall``. :func:`run_streams` steps any
number of them on one trigger sequence per cycle: inputs change at the falling edge, and
after ``ReadOnly`` the handshakes that the next rising edge commits are known. Every loop
counts its cycles against :func:`verif.budget.cycle_budget`, so a DUT that loses a beat
fails with what arrived instead of hanging.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from verif.budget import cycle_budget, timeout


def field(bits: np.ndarray, layout, name: str) -> np.ndarray:
    """Extract member ``name`` of a StructLayout from packed payload integers."""
    member = layout.members[name]
    return (bits >> layout[name].offset) & ((1 << member.width) - 1)


async def reset(dut, cycles: int = 2) -> None:
    """Start the clock (C++-side under Verilator) and hold ``rst`` for a few cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
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


class Source:
    """Offers ``beats`` (payload integers) on stream ``name`` of ``dut``, junk when idle."""

    def __init__(self, dut, name: str, beats, *, rnd: random.Random, idle: float = 0.0):
        self.valid, self.ready, self.payload = (getattr(dut, f"{name}__{s}")
                                                for s in ("valid", "ready", "payload"))
        self.name, self.beats, self.rnd, self.idle = name, [int(b) for b in beats], rnd, idle
        self.width = len(self.payload)
        self.sent, self.holding = 0, False

    @property
    def done(self) -> bool:
        return self.sent == len(self.beats)

    def drive(self) -> None:
        if not self.holding and not self.done and self.rnd.random() >= self.idle:
            self.holding = True
            self.payload.value = self.beats[self.sent]
        if not self.holding:
            self.payload.value = self.rnd.getrandbits(self.width)
        self.valid.value = self.holding

    def took(self) -> bool:
        fire = self.holding and bool(int(self.ready.value))
        if fire:
            self.sent, self.holding = self.sent + 1, False
        return fire

    def stop(self) -> None:
        self.valid.value = 0


class Sink:
    """Collects ``count`` payload integers from stream ``name``, not ready w.p. ``stall``."""

    def __init__(self, dut, name: str, count: int, *, rnd: random.Random, stall: float = 0.0):
        self.valid, self.ready, self.payload = (getattr(dut, f"{name}__{s}")
                                                for s in ("valid", "ready", "payload"))
        self.name, self.count, self.rnd, self.stall = name, count, rnd, stall
        self.got: list[int] = []
        self.on = False

    @property
    def done(self) -> bool:
        return len(self.got) >= self.count

    def drive(self) -> None:
        self.on = self.rnd.random() >= self.stall
        self.ready.value = self.on

    def took(self) -> bool:
        fire = self.on and bool(int(self.valid.value))
        if fire:
            self.got.append(int(self.payload.value))
        return fire

    def stop(self) -> None:
        self.ready.value = 0


async def run_streams(dut, sources, sinks, *, budget: int, where: str) -> int:
    """Step ``sources`` and ``sinks`` once per cycle until all beats are sent and every sink
    has its count; returns the cycles used, fails after ``budget``."""
    cycles = 0
    while not all(s.done for s in sources) or not all(s.done for s in sinks):
        if cycles == budget:
            raise timeout(budget, where,
                          **{s.name: (s.sent, len(s.beats)) for s in sources},
                          **{s.name: (len(s.got), s.count) for s in sinks})
        cycles += 1
        await FallingEdge(dut.clk)
        for port in (*sources, *sinks):
            port.drive()
        await ReadOnly()
        for port in (*sources, *sinks):
            port.took()
    await FallingEdge(dut.clk)
    for port in (*sources, *sinks):
        port.stop()
    return cycles


async def stream_through(dut, beats, *, rnd: random.Random, stall: float,
                         i: str = "i", o: str = "o", latency: int = 16) -> list[int]:
    """Send ``beats`` on stream ``i``, collect as many from stream ``o`` (gaps with junk
    payloads and backpressure, each with probability ``stall``)."""
    n = len(beats)
    sink = Sink(dut, o, n, rnd=rnd, stall=stall)
    await run_streams(dut, [Source(dut, i, beats, rnd=rnd, idle=stall)], [sink],
                      where=f"stream {i} -> {o}",
                      budget=cycle_budget(n, idle=stall, stall=stall, latency=latency))
    return sink.got
