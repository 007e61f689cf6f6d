"""Building blocks of the formal harnesses: free inputs, counters, stream-port properties.

Every harness is an Amaranth elaboratable with no ports: it instantiates the DUT, drives each
DUT input with an arbitrary value every cycle (``AnySeq``: arbitrary stalls, arbitrary
payloads, arbitrary configuration) and states properties with ``Assert``. The harness's own
registers live in the same ``sync`` domain as the DUT, and the domain's reset is a free input
too, so every property is checked across resets asserted at any time; counters that reset
with the domain restart with the DUT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# amaranth.hdl exports Assert, Assume and Cover; the free-value sources are in asserts in 0.5.
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Elaboratable, Fragment, Module, ResetSignal, Signal, Value
from amaranth.lib import wiring

__all__ = ["input_ports", "drive_free", "internal_signals", "internal", "after_reset", "fires",
           "count", "payload_stable", "expected_queue", "ReadyMiter"]


def input_ports(dut: wiring.Component) -> list[tuple[tuple, Value]]:
    """``(path, value)`` of every input port of ``dut`` (stream ``valid``/``payload`` of its
    input streams, ``ready`` of its output streams, configuration inputs)."""
    return [(path, Value.cast(value)) for path, member, value in dut.signature.flatten(dut)
            if member.flow == wiring.In]


def drive_free(m: Module, dut: wiring.Component) -> None:
    """Drive every input of ``dut`` with an arbitrary value, chosen anew each cycle."""
    for _, value in input_ports(dut):
        m.d.comb += value.eq(AnySeq(value.shape()))


def internal_signals(dut, platform) -> tuple[Fragment, dict[str, Signal]]:
    """Elaborate ``dut`` and return its fragment (to add as the submodule in its place) and
    the signals that its statements drive, by name (``sub.name`` inside submodule ``sub``):
    white-box access for the helper invariants that let k-induction close on state the
    ports do not show."""
    fragment = Fragment.get(dut, platform)
    return fragment, _driven(fragment, "")


def internal(signals: dict[str, Signal], name: str, dut) -> Signal:
    """``signals[name]``, or a KeyError saying that ``dut``'s RTL no longer has it."""
    if name not in signals:
        raise KeyError(f"{type(dut).__qualname__} has no internal signal {name!r} any more "
                       "(renamed?): update the helper invariants of its harness in "
                       "verif/formal")
    return signals[name]


def _driven(fragment: Fragment, prefix: str) -> dict[str, Signal]:
    # Statement._lhs_signals is Amaranth 0.5's own walk over assignment targets (private API;
    # pyproject pins amaranth ~= 0.5.4).
    signals = {prefix + signal.name: signal for statements in fragment.statements.values()
               for statement in statements for signal in statement._lhs_signals()}
    for sub, name, _ in fragment.subfragments:
        signals.update(_driven(sub, f"{prefix}{name}."))
    return signals


def after_reset(m: Module) -> Signal:
    """High in the cycle after one in which the ``sync`` reset was asserted."""
    seen = Signal(reset_less=True, name="after_reset")
    m.d.sync += seen.eq(ResetSignal())
    return seen


def fires(port) -> Value:
    """A beat is transferred on stream ``port`` this cycle."""
    return port.valid & port.ready


def count(m: Module, event, width: int, name: str) -> Signal:
    """A ``width``-bit wrapping count of the cycles with ``event`` since the last reset."""
    counter = Signal(width, name=name)
    m.d.sync += counter.eq(counter + event)
    return counter


def payload_stable(m: Module, port, what: str) -> None:
    """Assert: output stream ``port`` stalled (valid, not ready, no reset) in one cycle keeps
    ``valid`` and the same ``payload`` in the next."""
    payload = Value.cast(port.payload)
    stalled = Signal(reset_less=True, name=f"{what}_stalled")
    held = Signal(payload.shape(), reset_less=True, name=f"{what}_held")
    m.d.sync += [stalled.eq(port.valid & ~port.ready & ~ResetSignal()), held.eq(payload)]
    with m.If(stalled):
        m.d.comb += [
            Assert(port.valid, f"{what}: valid dropped while stalled"),
            Assert(payload == held, f"{what}: payload changed while stalled"),
        ]


def expected_queue(m: Module, *, depth: int, shape, push, value, pop, forget):
    """The reference results of the beats in flight through a pipeline, oldest first.

    ``push`` appends ``value`` (a beat accepted), ``pop`` drops the oldest (a beat
    delivered); every entry carries a ``counted`` bit, set when pushed and cleared in all
    entries already queued when ``forget`` is high (a ``sat_clear``: the beats in flight
    then do not count; one pushed in the same cycle does). Returns the oldest entry and its
    ``counted`` bit. ``depth`` must exceed the pipeline's capacity.
    """
    entries = [Signal(shape, name=f"expected_{k}") for k in range(depth)]
    counted = [Signal(name=f"counted_{k}") for k in range(depth)]
    level = Signal(range(depth + 1), name="expected_level")
    m.d.sync += level.eq(level + push - pop)
    slot = level - pop
    for k in range(depth):
        later = k + 1 < depth
        with m.If(push & (slot == k)):
            m.d.sync += [entries[k].eq(value), counted[k].eq(1)]
        with m.Elif(pop & later):
            m.d.sync += [entries[k].eq(entries[k + 1] if later else entries[k]),
                         counted[k].eq(counted[k + 1] & ~forget if later else 0)]
        with m.Elif(forget):
            m.d.sync += counted[k].eq(0)
    return entries[0], counted[0]


class ReadyMiter(Elaboratable):
    """Two copies of a DUT whose inputs are equal except the ``valid`` of each input stream.

    ``same`` is high while the two ``valid`` histories since the last reset are equal: the two
    copies (deterministic, reset together) are then in the same state, so the assertion
    ``ready_a == ready_b`` of every input stream says that in every reachable state ``ready``
    is the same under every combination of ``valid`` values in the current cycle, i.e. no
    ``ready`` depends combinationally on any ``valid``.

    Parameters
    ----------
    make_dut : callable
        Returns a fresh DUT (called twice).
    streams : sequence of str
        Names of the DUT's input streams.
    equal_state : sequence of callable
        ``(dut, signals)`` -> Value (``signals``: :func:`internal_signals`) of the state that
        decides ``ready``; asserted equal between the copies while ``same`` (true, since the
        copies are in the same state), which lets k-induction close.
    """

    def __init__(self, make_dut: Callable[[], wiring.Component], streams: Sequence[str],
                 equal_state: Sequence[Callable] = ()):
        self._make_dut = make_dut
        self._streams = tuple(streams)
        self._equal_state = tuple(equal_state)

    def elaborate(self, platform):
        m = Module()
        dut_a, dut_b = self._make_dut(), self._make_dut()
        m.submodules.dut_a, signals_a = internal_signals(dut_a, platform)
        m.submodules.dut_b, signals_b = internal_signals(dut_b, platform)
        valids = {(name, "valid") for name in self._streams}
        valids_equal = 1
        for (path, a), (_, b) in zip(input_ports(dut_a), input_ports(dut_b)):
            m.d.comb += a.eq(AnySeq(a.shape()))
            if path in valids:
                m.d.comb += b.eq(AnySeq(b.shape()))
                valids_equal = valids_equal & (a == b)
            else:
                m.d.comb += b.eq(a)
        same = Signal(init=1)
        m.d.sync += same.eq(same & valids_equal)
        with m.If(same):
            for name in self._streams:
                m.d.comb += Assert(getattr(dut_a, name).ready == getattr(dut_b, name).ready,
                                   f"{name}.ready depends on a valid")
            for state in self._equal_state:
                m.d.comb += Assert(state(dut_a, signals_a) == state(dut_b, signals_b),
                                   "copies diverged")
        return m
