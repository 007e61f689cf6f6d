"""The quantizer's control and status ports, declared once, and connecting ports by name.

The R4 quantizer lane, the gradient unit, the backward tile and the composed top all carry
the same control inputs and status outputs (``phase``, ``scale_exp``, ... ``nonfinite``). They
are flat ports, one Verilog port each under its plain name: the native engine's C++ harness,
the cocotb testbenches, the formal harnesses and the RTL backend drive them by those names, so
they are not grouped into a nested signature (which would rename them ``ctrl__phase``).
Instead each port is declared once, in :data:`QUANTIZER_CONTROLS`; a component takes the
members it has from there (:func:`members`), and a composed component connects its ports to a
unit's same-named ones with :func:`connect_ports` (:func:`shared_ports` lists the controls the
two share), which checks that both declare the same member and drives each in its direction. What each port does is in
:class:`hdl.gradient_unit.GradientUnit`'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SAT_COUNT_BITS", "QUANTIZER_CONTROLS", "CONFIG", "SATURATION", "AMAX", "members",
           "shared_ports", "connect_ports"]

#: Bits of the saturation counters (a 16-bit tensor of 2^32 elements will not occur).
SAT_COUNT_BITS = 32

#: Every control and status port of the gradient quantizer, name -> member, in port order.
QUANTIZER_CONTROLS = MappingProxyType({
    # Configuration, sampled with each accepted beat; the generator's seed.
    "phase": In(1),
    "scale_exp": In(signed(8)),
    "stochastic": In(1),
    "seed": In(32),
    "seed_load": In(1),
    # The saturation counter.
    "sat_count": Out(SAT_COUNT_BITS),
    "sat_clear": In(1),
    # The amax tracker (hdl.amax.AmaxTracker): |x| of FP16 is 15 bits.
    "amax_clear": In(1),
    "amax": Out(15),
    "next_scale_exp": Out(signed(8)),
    "nonfinite": Out(1),
})
#: The groups of :data:`QUANTIZER_CONTROLS`: a lane has the first two, the gradient unit all.
CONFIG = ("phase", "scale_exp", "stochastic", "seed", "seed_load")
SATURATION = ("sat_count", "sat_clear")
AMAX = ("amax_clear", "amax", "next_scale_exp", "nonfinite")
assert CONFIG + SATURATION + AMAX == tuple(QUANTIZER_CONTROLS)


def members(*names: str, exclude: Iterable[str] = ()) -> dict[str, wiring.Member]:
    """The members of :data:`QUANTIZER_CONTROLS` named ``names`` (every one if none given),
    in the order given, less ``exclude``: to splice into a component's signature."""
    drop = set(exclude)
    return {name: QUANTIZER_CONTROLS[name] for name in names or QUANTIZER_CONTROLS
            if name not in drop}


def shared_ports(outer, inner) -> list[str]:
    """The ports of :data:`QUANTIZER_CONTROLS` that components ``outer`` and ``inner`` both
    have: the inputs, then the outputs, each in ``outer``'s port order.

    The order is that of the connections :func:`connect_ports` makes, and so of the generated
    Verilog's internal net names: inputs first is the order the backward tile always had.
    """
    both = [name for name in outer.signature.members
            if name in QUANTIZER_CONTROLS and name in inner.signature.members]
    return sorted(both, key=lambda name: QUANTIZER_CONTROLS[name].flow == Out)


def connect_ports(m: Module, outer, inner, ports: Iterable[str] | Mapping[str, str]) -> None:
    """Connect ports of component ``outer`` to those of its submodule ``inner``: an input of
    ``outer`` drives the inner input, an inner output drives the output of ``outer``; a stream
    (a signature member) is connected whole, with :func:`amaranth.lib.wiring.connect`.

    ``ports`` names the ports of ``outer``, connected in that order; an inner port has the same
    name unless ``ports`` is a mapping ``{outer name: inner name}``. Both sides must declare
    the same member under each pair of names (one declaration, such as
    :data:`QUANTIZER_CONTROLS` or the unit's own ``signature.members[...]``); a mismatch is a
    TypeError here rather than a silent truncation.
    """
    ports = dict(ports) if isinstance(ports, Mapping) else {name: name for name in ports}
    for name, inner_name in ports.items():
        member = outer.signature.members[name]
        if member != inner.signature.members[inner_name]:
            raise TypeError(f"port {name} of {type(outer).__name__} ({member!r}) is not port "
                            f"{inner_name} of {type(inner).__name__} "
                            f"({inner.signature.members[inner_name]!r})")
        ours, theirs = getattr(outer, name), getattr(inner, inner_name)
        if member.is_signature:
            if member.flow == In:
                wiring.connect(m, wiring.flipped(ours), theirs)
            else:
                wiring.connect(m, theirs, wiring.flipped(ours))
        elif member.flow == In:
            m.d.comb += theirs.eq(ours)
        else:
            m.d.comb += ours.eq(theirs)
