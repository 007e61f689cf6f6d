"""Formal harnesses of :class:`hdl.r4_quantizer.R4QuantizerLane` and its datapath.

The four stream properties of :mod:`verif.formal.stage`, plus two equivalences with
:mod:`verif.formal.r4_reference`: the combinational ``R4Quantize`` for every input, and the
whole lane (stream register, generator, saturation count), both by k-induction.
"""

from __future__ import annotations

from verif.formal.r4_reference import EQUIVALENCE, equivalence_harness, lane_harness
from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

MODULE = "hdl.r4_quantizer"
COUNTERS = (lambda dut: dut.sat_count,)

_READY = "self.i.ready.eq(~self.o.valid | self.o.ready)"
_MUTANTS = {
    "transfer": Mutant(((_READY, "self.i.ready.eq(1)"),),
                       "i.ready always high: a stalled code is overwritten"),
    "ready": Mutant(((_READY, "self.i.ready.eq(~self.o.valid | self.o.ready"
                              " & self.i.valid)"),),
                    "i.ready also needs i.valid"),
    "stable": Mutant((("with m.If(fire):", "with m.If(self.i.valid):"),),
                     "the output register loads whenever i.valid, also while o is stalled"),
    "reset": Mutant((("fire = self.i.valid & self.i.ready",
                      "ghost = Signal(reset_less=True)\n"
                      "        m.d.sync += ghost.eq(ResetSignal() & self.o.valid)\n"
                      "        fire = self.i.valid & self.i.ready | ghost"),
                     ("from amaranth.hdl import ",
                      "from amaranth.hdl import ResetSignal, ")),
                    "a reset-less flag re-sends the beat held at reset after the reset"),
    "equivalence": Mutant((("up_nearest = t & (man[9] | man[8])",
                            "up_nearest = t & man[9]"),),
                          "nearest rounds up only from man >= 1536 (2.5 L ties of 1280..1535 "
                          "round down)", depth=1),
}

#: The lane proof's mutants: the generator, sat_clear and seed_load rules of the docstring.
_LANE_MUTANTS = (
    Mutant((("rng.advance.eq(fire & self.stochastic)",
             "rng.advance.eq(self.i.valid & self.stochastic)"),),
           "the generator also advances for a stalled (not accepted) beat"),
    Mutant((("counted = Mux(self.sat_clear, 0, self.sat_count)",
             "counted = Mux(self.sat_clear & ~fire, 0, self.sat_count)"),),
           "sat_clear is ignored in a cycle with a beat"),
    Mutant((("quantize.draw.eq(rng.draws[0])",
             "quantize.draw.eq(rng.draws[0] ^ (self.seed_load << 31))"),),
           "a beat in the seed_load cycle gets another draw"),
)


def _harness(prop):
    def build(hdl_r4_quantizer):
        return stage_harness(hdl_r4_quantizer.R4QuantizerLane, prop, counters=COUNTERS)
    return build


PROOFS = [
    *(Proof(f"r4_lane.{prop}", "r4_lane", PROPERTIES[prop], MODULE, _harness(prop),
            "prove", 2, (_MUTANTS[prop],))
      for prop in PROPERTIES),
    Proof("r4_lane.equivalence", "r4_lane", EQUIVALENCE["equivalence"], MODULE,
          equivalence_harness, "prove", 1, (_MUTANTS["equivalence"],)),
    Proof("r4_lane.lane", "r4_lane", EQUIVALENCE["lane"], MODULE, lane_harness, "prove", 2,
          _LANE_MUTANTS),
]
