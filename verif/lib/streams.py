"""What the two stream-driver twins share: pause generators and the bookkeeping of a stream.

:mod:`verif.lib.cocotb_streams` (generated Verilog under cocotb) and
:mod:`verif.lib.sim_streams` (Amaranth simulator) subclass :class:`SourceState`,
:class:`MonitorState` and :class:`SinkState` and add the port access of their simulator
(``drive``, ``took``, ``stop``).

Pause generators follow cocotbext-axi: a source or sink draws one bool per cycle from an
iterator set with ``set_pause_generator``; ``True`` leaves a source idle (no new beat is
offered; a beat already offered stays valid until accepted) and withholds ``ready`` at a sink.
Any iterator works, e.g. ``itertools.cycle([0, 0, 1])`` for a fixed pattern; ``None`` means
never pause.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def random_pauses(rnd: random.Random, probability: float) -> Iterator[bool] | None:
    """Pause with ``probability`` in each cycle, drawing from ``rnd``; ``None`` if it is 0."""
    if not 0 <= probability < 1:
        raise ValueError(f"probability must be in [0, 1), not {probability!r}")
    if probability == 0:
        return None
    return (rnd.random() < probability for _ in iter(int, 1))


class Pausable:
    """A driver with a pause generator (None: never pauses)."""

    pause: Iterator[bool] | None = None

    def set_pause_generator(self, generator: Iterator[bool] | None) -> None:
        """Pause in the cycles where ``generator`` yields True; None: never."""
        self.pause = generator

    def paused(self) -> bool:
        """This cycle's value of the pause generator."""
        return self.pause is not None and bool(next(self.pause))


class SourceState(Pausable):
    """``beats`` to offer in order; ``holding``: one is offered and not yet accepted;
    ``cycles[i]``: the cycle beat i was accepted in. Idle with probability ``idle`` per cycle
    unless :meth:`set_pause_generator` sets another generator; ``rnd`` draws the pauses and
    the junk payloads of idle cycles."""

    def __init__(self, beats, *, rnd: random.Random, idle: float = 0.0):
        self.beats, self.rnd = list(beats), rnd
        self.holding = False
        self.cycles: list[int] = []
        self.set_pause_generator(random_pauses(rnd, idle))

    @property
    def sent(self) -> int:
        return len(self.cycles)

    @property
    def done(self) -> bool:
        return self.sent == len(self.beats)

    def offers(self) -> bool:
        """Whether a new beat goes out this cycle (none held, some left, no pause)."""
        return not self.holding and not self.done and not self.paused()

    def accepted(self, fire: bool, cycle: int) -> bool:
        """Record the handshake of the held beat if ``fire``; returns ``fire``."""
        if fire:
            self.cycles.append(cycle)
            self.holding = False
        return fire


class MonitorState:
    """The payloads (``got``) and cycles of the beats that crossed a stream; done after
    ``count``."""

    def __init__(self, count: int):
        self.count = count
        self.got: list = []
        self.cycles: list[int] = []

    @property
    def done(self) -> bool:
        return len(self.got) >= self.count

    def record(self, payload, cycle: int) -> None:
        self.got.append(payload)
        self.cycles.append(cycle)


class SinkState(MonitorState, Pausable):
    """A monitor that drives ``ready``: withheld with probability ``stall`` per cycle (or
    where :meth:`set_pause_generator`'s generator yields True); ``ready``: this cycle's."""

    def __init__(self, count: int, *, rnd: random.Random, stall: float = 0.0):
        MonitorState.__init__(self, count)
        self.ready = False
        self.set_pause_generator(random_pauses(rnd, stall))
