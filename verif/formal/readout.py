"""Formal harnesses of :class:`hdl.readout.Readout` and :class:`hdl.readout.ReadoutLanes`
(``acc_width`` 18, the smallest; 2 lanes)."""

from __future__ import annotations

from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

ACC_WIDTH = 18
LANES = 2
MODULE = "hdl.readout"

# Each edit quotes enough context to hit one class only: both share the stream structure.
_READY = "self.i.ready.eq(~self.o.valid | self.o.ready),\n            rnd.acc"
_LANES_READY = "m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)"
_GHOST = ("ghost = Signal(reset_less=True)\n"
          "        m.d.sync += ghost.eq(ResetSignal() & self.o.valid)\n"
          "        fire = self.i.valid & self.i.ready | ghost\n")
_IMPORT = ("from amaranth.hdl import ", "from amaranth.hdl import ResetSignal, ")

_MUTANTS = {
    "Readout": {
        "transfer": Mutant(((_READY, "self.i.ready.eq(1),\n            rnd.acc"),),
                           "i.ready always high: a stalled result is overwritten"),
        "ready": Mutant(((_READY, "self.i.ready.eq(~self.o.valid | self.o.ready"
                                  " & self.i.valid),\n            rnd.acc"),),
                        "i.ready also needs i.valid (combinational valid -> ready path)"),
        "stable": Mutant((("with m.If(fire):\n            m.d.sync += [self.o.payload",
                           "with m.If(self.i.valid):\n"
                           "            m.d.sync += [self.o.payload"),),
                         "the output register loads whenever i.valid, also while stalled"),
        "reset": Mutant((("fire = self.i.valid & self.i.ready\n        m.d.comb += [\n",
                          _GHOST + "        m.d.comb += [\n"), _IMPORT),
                        "a reset-less flag re-sends the beat held at reset after the reset"),
    },
    "ReadoutLanes": {
        "transfer": Mutant(((_LANES_READY, "m.d.comb += self.i.ready.eq(1)"),),
                           "i.ready always high: a stalled row of results is overwritten"),
        "ready": Mutant(((_LANES_READY, "m.d.comb += self.i.ready.eq(~self.o.valid"
                                        " | self.o.ready & self.i.valid)"),),
                        "i.ready also needs i.valid"),
        "stable": Mutant((("with m.If(fire):\n"
                           "                m.d.sync += self.o.payload[k]",
                           "with m.If(self.i.valid):\n"
                           "                m.d.sync += self.o.payload[k]"),),
                         "the lanes' result registers load whenever i.valid, also while "
                         "stalled"),
        "reset": Mutant((("fire = self.i.valid & self.i.ready\n"
                          "        m.d.comb += self.i.ready",
                          _GHOST + "        m.d.comb += self.i.ready"), _IMPORT),
                        "a reset-less flag re-sends the beat held at reset after the reset"),
    },
}

_DUTS = {"Readout": ("readout", lambda module: module.Readout(ACC_WIDTH)),
         "ReadoutLanes": ("readout_lanes", lambda module: module.ReadoutLanes(ACC_WIDTH, LANES))}


def _harness(make, prop):
    def build(hdl_readout):
        return stage_harness(lambda: make(hdl_readout), prop)
    return build


PROOFS = [Proof(f"{name}.{prop}", "readout", PROPERTIES[prop], MODULE, _harness(make, prop),
                "prove", 2, (_MUTANTS[cls][prop],))
          for cls, (name, make) in _DUTS.items() for prop in PROPERTIES]
