"""Formal harnesses of :class:`hdl.gradient_unit.GradientUnit` (2 lanes)."""

from __future__ import annotations

from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

LANES = 2
MODULE = "hdl.gradient_unit"
#: Outputs that a reset clears: the saturation count and the amax tracker's state.
COUNTERS = (lambda dut: dut.sat_count, lambda dut: dut.amax, lambda dut: dut.nonfinite)

_READY = "self.i_grad.ready.eq(~self.o_codes.valid | self.o_codes.ready)"
_MUTANTS = {
    "transfer": Mutant(MODULE, ((_READY, "self.i_grad.ready.eq(1)"),),
                       "i_grad.ready always high: a stalled beat of codes is overwritten"),
    "ready": Mutant(MODULE, ((_READY, "self.i_grad.ready.eq(~self.o_codes.valid"
                                      " | self.o_codes.ready & self.i_grad.valid)"),),
                    "i_grad.ready also needs i_grad.valid"),
    "stable": Mutant(MODULE, (("with m.If(fire):\n                m.d.sync += self.o_codes",
                               "with m.If(self.i_grad.valid):\n"
                               "                m.d.sync += self.o_codes"),),
                     "the lanes' code registers load whenever i_grad.valid, also while stalled"),
    "reset": Mutant(MODULE, (("fire = self.i_grad.valid & self.i_grad.ready",
                              "ghost = Signal(reset_less=True)\n"
                              "        m.d.sync += ghost.eq(ResetSignal() & self.o_codes.valid)\n"
                              "        fire = self.i_grad.valid & self.i_grad.ready | ghost"),
                             ("from amaranth.hdl import ",
                              "from amaranth.hdl import ResetSignal, Signal, ")),
                    "a reset-less flag re-sends the beat held at reset after the reset"),
}


def _harness(prop):
    def build(hdl_gradient_unit):
        return stage_harness(lambda: hdl_gradient_unit.GradientUnit(LANES), prop,
                             i="i_grad", o="o_codes", counters=COUNTERS)
    return build


PROOFS = [Proof(f"gradient_unit.{prop}", "gradient_unit", PROPERTIES[prop], _harness(prop),
                "prove", 2, _MUTANTS[prop])
          for prop in PROPERTIES]
