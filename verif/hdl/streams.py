"""Drive an Amaranth-simulator stream pair with random gaps and backpressure, within a budget."""

from __future__ import annotations

import random
from collections.abc import Callable

from verif.budget import cycle_budget, timeout

#: Clock period of every Amaranth-simulator test (``sim.add_clock(PERIOD)``).
PERIOD = 1e-8


def add_watchdog(sim, cycles: int, where: str,
                 progress: Callable[[], dict[str, tuple[int, int]]]) -> None:
    """Fail ``sim.run()`` if it has not finished after ``cycles`` clock periods.

    A background testbench sleeps for the whole budget in one timer (no per-cycle work) and
    then raises :func:`verif.budget.timeout` with ``progress()``: what arrived and what was
    expected by then. A run that finishes earlier never wakes it.
    """
    async def watchdog(ctx):
        await ctx.delay(cycles * PERIOD)
        raise timeout(cycles, where, **progress())

    sim.add_testbench(watchdog, background=True)


async def stream_through(ctx, i, o, payloads, *, rnd: random.Random, stall: float,
                         latency: int = 16) -> list:
    """Send ``payloads`` on stream ``i`` and collect as many payloads from stream ``o``.

    Each cycle the input is idle with probability ``stall`` (a raised ``valid`` holds its
    payload until accepted) and the output is not ready with probability ``stall``, so every
    handshake state of both streams occurs. A payload is anything ``ctx.set`` takes for
    ``i.payload`` (an int, or a dict for a StructLayout); ``i.valid`` is left low at the end.
    A DUT that loses a beat fails with an AssertionError once the cycles exceed
    :func:`verif.budget.cycle_budget` of the payloads (``latency``: the DUT's pipeline depth).
    """
    n = len(payloads)
    budget = cycle_budget(n, idle=stall, stall=stall, latency=latency)
    sent, got, cycles = 0, [], 0
    while len(got) < n:
        if cycles == budget:
            raise timeout(budget, "stream_through", beats_in=(sent, n), beats_out=(len(got), n))
        valid = sent < n and rnd.random() >= stall
        ctx.set(i.valid, valid)
        if valid:
            ctx.set(i.payload, payloads[sent])
        ready = rnd.random() >= stall
        ctx.set(o.ready, ready)
        in_fire = valid and ctx.get(i.ready)
        if ready and ctx.get(o.valid):
            got.append(ctx.get(o.payload))
        await ctx.tick()
        sent += in_fire
        cycles += 1
    ctx.set(i.valid, 0)
    return got
