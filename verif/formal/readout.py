"""Formal harnesses of :class:`hdl.readout.Readout` (``acc_width`` 18, the smallest)."""

from __future__ import annotations

from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

ACC_WIDTH = 18
MODULE = "hdl.readout"

_MUTANTS = {
    "transfer": Mutant(MODULE, (("self.i.ready.eq(~self.o.valid | self.o.ready)",
                                 "self.i.ready.eq(1)"),),
                       "i.ready always high: a stalled result is overwritten"),
    "ready": Mutant(MODULE, (("self.i.ready.eq(~self.o.valid | self.o.ready)",
                              "self.i.ready.eq(~self.o.valid | self.o.ready & self.i.valid)"),),
                    "i.ready also needs i.valid (combinational valid -> ready path)"),
    "stable": Mutant(MODULE, (("with m.If(fire):", "with m.If(self.i.valid):"),),
                     "the output register loads whenever i.valid, also while o is stalled"),
    "reset": Mutant(MODULE, (("fire = self.i.valid & self.i.ready",
                              "ghost = Signal(reset_less=True)\n"
                              "        m.d.sync += ghost.eq(ResetSignal() & self.o.valid)\n"
                              "        fire = self.i.valid & self.i.ready | ghost"),
                             ("from amaranth.hdl import ",
                              "from amaranth.hdl import ResetSignal, ")),
                    "a reset-less flag re-sends the beat held at reset after the reset"),
}


def _harness(prop):
    def build(hdl_readout):
        return stage_harness(lambda: hdl_readout.Readout(ACC_WIDTH), prop)
    return build


PROOFS = [Proof(f"readout.{prop}", "readout", PROPERTIES[prop], _harness(prop), "prove", 2,
                _MUTANTS[prop])
          for prop in PROPERTIES]
