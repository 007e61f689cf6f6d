"""Formal harnesses of :class:`hdl.r4_quantizer.R4QuantizerLane` and its datapath.

The four stream properties of :mod:`verif.formal.stage`, plus two equivalences with
:mod:`verif.formal.r4_reference`: the combinational ``R4Quantize`` for every input (by
k-induction), and the whole lane (pipeline, generator, saturation count) by BMC over
``LANE_DEPTH`` cycles from reset, time for a beat to pass and be counted.
"""

from __future__ import annotations

from hdl.r4_quantizer import STEPS
from verif.formal.r4_reference import EQUIVALENCE, equivalence_harness, lane_harness
from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

MODULE = "hdl.r4_quantizer"
COUNTERS = (lambda dut: dut.sat_count,)
#: The lane pipeline's stage valid registers (hdl.r4_quantizer.R4Pipeline as "quantize").
STAGES = tuple(f"quantize.r4_{step}_valid" for step in STEPS)
#: BMC depth of the lane proof: a beat, its six stages, the two cycles until it is counted,
#: and a clear or stall around it.
LANE_DEPTH = 10

_READY = "self.i.ready.eq(quantize.i.ready)"
_MUTANTS = {
    "transfer": Mutant(((_READY, "self.i.ready.eq(1)"),),
                       "i.ready always high: a beat offered to a stalled pipeline is lost"),
    "ready": Mutant(((_READY, "self.i.ready.eq(quantize.i.ready | ~self.i.valid)"),),
                    "i.ready also depends on i.valid"),
    "stable": Mutant((("quantize.o.ready.eq(self.o.ready)", "quantize.o.ready.eq(1)"),),
                     "the pipeline moves on while o is stalled"),
    "reset": Mutant((("fire = self.i.valid & self.i.ready",
                      "ghost = Signal(reset_less=True)\n"
                      "        m.d.sync += ghost.eq(ResetSignal() & self.o.valid)\n"
                      "        fire = self.i.valid & self.i.ready"),
                     ("quantize.i.valid.eq(self.i.valid)",
                      "quantize.i.valid.eq(self.i.valid | ghost)"),
                     ("from amaranth.hdl import ",
                      "from amaranth.hdl import ResetSignal, ")),
                    "a reset-less flag sends a beat into the pipeline after a reset"),
    "equivalence": Mutant((('v["t"] & (v["man"][9] | v["man"][8])',
                            'v["t"] & v["man"][9]'),),
                          "nearest rounds up only from man >= 1536 (2.5 L ties of 1280..1535 "
                          "round down)", depth=1),
}

#: The lane proof's mutants: the generator, sat_clear and seed_load rules of the docstring.
_LANE_MUTANTS = (
    Mutant((("rng.advance.eq(fire & self.stochastic)",
             "rng.advance.eq(self.i.valid & self.stochastic)"),),
           "the generator also advances for a stalled (not accepted) beat"),
    Mutant((("skip.eq(in_flight - delivered)", "skip.eq(in_flight - delivered + accepted)"),),
           "sat_clear also drops the beat accepted in its cycle", depth=LANE_DEPTH),
    Mutant((("quantize.i.payload.draw[0].eq(rng.draws[0])",
             "quantize.i.payload.draw[0].eq(rng.draws[0] ^ (self.seed_load << 31))"),),
           "a beat in the seed_load cycle gets another draw", depth=LANE_DEPTH),
)


def _harness(prop):
    def build(hdl_r4_quantizer):
        return stage_harness(hdl_r4_quantizer.R4QuantizerLane, prop, counters=COUNTERS,
                             stages=STAGES)
    return build


PROOFS = [
    *(Proof(f"r4_lane.{prop}", "r4_lane", PROPERTIES[prop], MODULE, _harness(prop),
            "prove", 2, (_MUTANTS[prop],))
      for prop in PROPERTIES),
    Proof("r4_lane.equivalence", "r4_lane", EQUIVALENCE["equivalence"], MODULE,
          equivalence_harness, "prove", 1, (_MUTANTS["equivalence"],)),
    Proof("r4_lane.lane", "r4_lane", EQUIVALENCE["lane"], MODULE, lane_harness, "bmc",
          LANE_DEPTH, _LANE_MUTANTS),
]
