# amaranth: UnusedElaboratable=no
"""The quantizer's control and status ports: one declaration (:mod:`hdl.controls`), one rule
for connecting them."""

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hdl import controls
from hdl.backward_tile import BackwardTile
from hdl.gradient_unit import GradientUnit
from hdl.r4_quantizer import R4QuantizerLane
from hdl.training_units import TrainingUnits


def _elaborated(*components):
    """Elaborate ``components`` (their sub-units too): a unit built only for its signature
    would otherwise warn, from its own module, that it was never used."""
    for c in components:
        Fragment.get(c, None)


@pytest.mark.parametrize("make", [R4QuantizerLane, lambda: GradientUnit(3),
                                  lambda: BackwardTile(2, 3), lambda: TrainingUnits(2, 3)],
                         ids=["lane", "gradient_unit", "backward_tile", "training_units"])
def test_every_control_port_is_the_declared_member(make):
    component = make()
    names = [n for n in component.signature.members if n in controls.QUANTIZER_CONTROLS]
    assert names, "no control port at all"
    for name in names:
        assert component.signature.members[name] == controls.QUANTIZER_CONTROLS[name], name
    _elaborated(component)


def test_shared_ports_are_inputs_then_outputs_of_both():
    tile, unit = BackwardTile(2, 3), GradientUnit(3)
    assert controls.shared_ports(tile, unit) == [
        "phase", "scale_exp", "stochastic", "seed", "seed_load", "sat_clear", "amax_clear",
        "sat_count", "next_scale_exp", "nonfinite"]     # BackwardTile has no amax port
    _elaborated(tile, unit)


class _Box(wiring.Component):
    def __init__(self, members):
        super().__init__(members)

    def elaborate(self, platform):
        return Module()


class _Echo(wiring.Component):
    start: In(1)
    done: Out(2)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.done.eq(self.start * 3)
        return m


class _Outer(wiring.Component):
    go: In(1)
    done: Out(2)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = _Echo()
        controls.connect_ports(m, self, inner, {"go": "start", "done": "done"})
        return m


def test_connect_ports_drives_each_port_in_its_direction_and_renames():
    dut = _Outer()
    seen = []

    async def testbench(ctx):
        for go in (0, 1, 0):
            ctx.set(dut.go, go)
            seen.append(ctx.get(dut.done))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [0, 3, 0]


def test_connect_ports_refuses_a_different_member():
    m = Module()
    with pytest.raises(TypeError, match="phase"):
        controls.connect_ports(m, _Box({"phase": In(2)}), GradientUnit(2), ["phase"])
    with pytest.raises(TypeError, match="amax"):
        controls.connect_ports(m, _Box({"amax": In(15)}), GradientUnit(2), ["amax"])
