"""The harness shared by the pipelined stream units: R4 lane, gradient unit, read-out.

All three take a beat on input stream ``i`` and pass it through a chain of register stages
(:class:`hdl.stream.Pipeline`) to stream ``o``. The same four properties apply to each:

- ``transfer``: beats accepted minus beats delivered equals the number of full stages at all
  times (the pipeline holds exactly the beats it took and not yet gave: nothing lost,
  nothing duplicated, nothing invented), under arbitrary stalls on both sides and resets at
  any time; the stages' ``valid`` registers are read by name (``occupancy``);
- ``ready``: :class:`verif.formal.props.ReadyMiter` on ``i``;
- ``stable``: :func:`verif.formal.props.payload_stable` on ``o``;
- ``reset``: in the cycle after a reset ``o.valid`` is low, ``i.ready`` high and every
  counter output of the block zero, and from there on the ``transfer`` relation holds with
  counts restarted at zero (no beat from before the reset reappears).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from amaranth.hdl import Assert, Cat, Elaboratable, Module

from verif.formal.props import (ReadyMiter, after_reset, count, drive_free, fires,
                                internal, internal_signals, payload_stable)

__all__ = ["PROPERTIES", "stage_harness"]

#: Property name -> the sentence that the harness proves (for the report and docs).
PROPERTIES = {
    "transfer": "beats accepted on i minus beats delivered on o == full stages, always "
                "(no beat lost, duplicated or invented; arbitrary stalls and resets)",
    "ready": "i.ready is equal under both values of i.valid in every reachable state",
    "stable": "o valid and not ready => next cycle o.valid and the same o.payload",
    "reset": "after a reset: o.valid low, i.ready high, counters zero; no beat from "
             "before the reset is delivered after it",
}

#: Wrapping width of the beat counters: the relation is checked modulo 2^COUNT_BITS.
COUNT_BITS = 4


class _StageHarness(Elaboratable):
    def __init__(self, make_dut, prop: str, i: str, o: str, counters: Sequence[Callable],
                 stages: Sequence[str]):
        self._make_dut, self._prop, self._i, self._o = make_dut, prop, i, o
        self._counters, self._stages = tuple(counters), tuple(stages)

    def elaborate(self, platform):
        m = Module()
        dut = self._make_dut()
        m.submodules.dut, signals = internal_signals(dut, platform)
        drive_free(m, dut)
        i, o = getattr(dut, self._i), getattr(dut, self._o)
        if self._prop in ("transfer", "reset"):
            accepted = count(m, fires(i), COUNT_BITS, "accepted")
            delivered = count(m, fires(o), COUNT_BITS, "delivered")
            full = sum(internal(signals, name, dut) for name in self._stages)
            m.d.comb += Assert((accepted - delivered)[:COUNT_BITS] == full,
                               "accepted - delivered != full stages")
        if self._prop == "stable":
            payload_stable(m, o, self._o)
        if self._prop == "reset":
            with m.If(after_reset(m)):
                m.d.comb += [Assert(~o.valid, "o.valid after reset"),
                             Assert(i.ready, "i.ready low after reset")]
                m.d.comb += [Assert(counter(dut) == 0, "counter not cleared by reset")
                             for counter in self._counters]
        return m


def stage_harness(make_dut: Callable, prop: str, *, i: str = "i", o: str = "o",
                  counters: Sequence[Callable] = (), stages: Sequence[str]) -> Elaboratable:
    """The harness proving ``prop`` (a key of :data:`PROPERTIES`) of one pipelined unit.

    ``make_dut`` returns a fresh DUT; ``i`` / ``o`` name its streams; ``counters`` are
    DUT -> Value getters of the outputs a reset must clear; ``stages`` the internal names
    of its pipeline's stage ``valid`` registers (:func:`verif.formal.props.internal`).
    """
    if prop not in PROPERTIES:
        raise ValueError(f"prop must be one of {tuple(PROPERTIES)}, not {prop!r}")
    if prop == "ready":
        return ReadyMiter(make_dut, [i], [lambda dut, signals: Cat(
            getattr(dut, o).valid, *(internal(signals, name, dut) for name in stages))])
    return _StageHarness(make_dut, prop, i, o, counters, stages)
