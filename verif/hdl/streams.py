"""Drive an Amaranth-simulator stream pair with random gaps and backpressure."""

from __future__ import annotations

import random


async def stream_through(ctx, i, o, payloads, *, rnd: random.Random, stall: float) -> list:
    """Send ``payloads`` on stream ``i`` and collect as many payloads from stream ``o``.

    Each cycle the input is idle with probability ``stall`` (a raised ``valid`` holds its
    payload until accepted) and the output is not ready with probability ``stall``, so every
    handshake state of both streams occurs. A payload is anything ``ctx.set`` takes for
    ``i.payload`` (an int, or a dict for a StructLayout); ``i.valid`` is left low at the end.
    """
    sent, got = 0, []
    while len(got) < len(payloads):
        valid = sent < len(payloads) and rnd.random() >= stall
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
    ctx.set(i.valid, 0)
    return got
