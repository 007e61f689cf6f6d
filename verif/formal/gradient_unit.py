"""Formal harnesses of :class:`hdl.gradient_unit.GradientUnit` (2 lanes).

The four stream properties of :mod:`verif.formal.stage`, and ``reference`` (BMC over
``REF_DEPTH`` cycles; slow, so it runs in ``make formal``, not in ``make test``): the unit
against a reference built from :class:`verif.formal.r4_reference.R4Reference` lanes, lane k
of a beat taking draw k after the previous beat's (one xorshift32 stream in row-major order,
as docs/numerics.md section 4 requires), queued while in flight, and a plain max over the
accepted beats for amax.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal, Value

from golden.formats import DEFAULT_SEED
from hdl.r4_quantizer import STEPS
from verif.formal.props import drive_free, expected_queue, fires, internal, internal_signals
from verif.formal.r4_reference import (QUEUE_DEPTH, R4Reference, sat_count_reference,
                                       xorshift32)
from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

LANES = 2
MODULE = "hdl.gradient_unit"
#: Outputs that a reset clears: the saturation count and the amax tracker's state.
COUNTERS = (lambda dut: dut.sat_count, lambda dut: dut.amax, lambda dut: dut.nonfinite)
#: The unit's pipeline stage valid registers (hdl.r4_quantizer.R4Pipeline as "quantize").
STAGES = tuple(f"quantize.r4_{step}_valid" for step in STEPS)
#: BMC depth of the reference proof: a beat, its six stages, the two cycles until it is
#: counted, and a few more.
REF_DEPTH = 10

_READY = "self.i_grad.ready.eq(quantize.i.ready)"
_MUTANTS = {
    "transfer": Mutant(((_READY, "self.i_grad.ready.eq(1)"),),
                       "i_grad.ready always high: a beat offered to a stalled pipeline is lost"),
    "ready": Mutant(((_READY, "self.i_grad.ready.eq(quantize.i.ready | ~self.i_grad.valid)"),),
                    "i_grad.ready also depends on i_grad.valid"),
    "stable": Mutant((("quantize.o.ready.eq(self.o_codes.ready)", "quantize.o.ready.eq(1)"),),
                     "the pipeline moves on while o_codes is stalled"),
    "reset": Mutant((("fire = self.i_grad.valid & self.i_grad.ready",
                      "ghost = Signal(reset_less=True)\n"
                      "        m.d.sync += ghost.eq(ResetSignal() & self.o_codes.valid)\n"
                      "        fire = self.i_grad.valid & self.i_grad.ready"),
                     ("quantize.i.valid.eq(self.i_grad.valid)",
                      "quantize.i.valid.eq(self.i_grad.valid | ghost)"),
                     ("from amaranth.hdl import ",
                      "from amaranth.hdl import ResetSignal, Signal, ")),
                    "a reset-less flag sends a beat into the pipeline after a reset"),
}


REFERENCE = ("codes, phase, sat_count, amax and nonfinite equal a reference unit: "
             "R4Reference lanes on draws b * N + k of one xorshift32 stream at acceptance, "
             "queued while in flight, amax the max finite magnitude of the beats accepted "
             "since amax_clear, shown AMAX_LATENCY cycles later")


class _UnitReference(Elaboratable):
    def __init__(self, hdl_gradient_unit):
        self._module = hdl_gradient_unit

    def elaborate(self, platform):
        m = Module()
        dut = self._module.GradientUnit(LANES)
        m.submodules.dut, signals = internal_signals(dut, platform)
        drive_free(m, dut)
        fire = fires(dut.i_grad)
        state = Signal(32, init=DEFAULT_SEED)
        draws = [xorshift32(state)]
        for _ in range(LANES - 1):
            draws.append(xorshift32(draws[-1]))
        value = Signal.like(dut.o_codes.payload)
        amax = Signal(15)
        nonfinite = Signal()
        saturated = 0
        beat_max = 0
        beat_nonfinite = 0
        for k in range(LANES):
            m.submodules[f"ref_{k}"] = ref = R4Reference()
            x = dut.i_grad.payload[k]
            m.d.comb += [ref.x.eq(x), ref.phase.eq(dut.phase), ref.scale_exp.eq(dut.scale_exp),
                         ref.stochastic.eq(dut.stochastic), ref.draw.eq(draws[k]),
                         value.lanes[k].eq(ref.result)]
            finite = x[10:15] != 31
            beat_max = Mux(finite & (x[:15] > beat_max), x[:15], beat_max)
            beat_nonfinite = beat_nonfinite | ~finite
        m.d.comb += value.phase.eq(dut.phase)
        with m.If(dut.seed_load):
            m.d.sync += state.eq(dut.seed)
        with m.Elif(fire & dut.stochastic):
            m.d.sync += state.eq(draws[-1])
        delivered = fires(dut.o_codes)
        expected, counted = expected_queue(m, depth=QUEUE_DEPTH, shape=value.shape(),
                                           push=fire, value=value, pop=delivered,
                                           forget=dut.sat_clear)
        for k in range(LANES):
            saturated = saturated + expected.lanes[k].saturated
        sat_count = sat_count_reference(m, sat_clear=dut.sat_clear, pop=delivered,
                                        counted=counted, saturated=Value.cast(saturated))
        kept = Mux(dut.amax_clear, 0, amax)
        m.d.sync += [
            amax.eq(Mux(fire & (beat_max > kept), beat_max, kept)),
            nonfinite.eq(Mux(dut.amax_clear, 0, nonfinite) | (fire & beat_nonfinite)),
        ]
        shown_amax, shown_nonfinite = amax, nonfinite
        for _ in range(dut.AMAX_LATENCY - 1):
            later_amax, later_nonfinite = Signal(15), Signal()
            m.d.sync += [later_amax.eq(shown_amax), later_nonfinite.eq(shown_nonfinite)]
            shown_amax, shown_nonfinite = later_amax, later_nonfinite
        with m.If(dut.o_codes.valid):
            m.d.comb += Assert(Value.cast(dut.o_codes.payload) == Value.cast(expected),
                               "delivered codes differ from the reference unit")
        m.d.comb += [
            Assert(dut.sat_count == sat_count, "sat_count differs from the reference"),
            Assert(dut.amax == shown_amax, "amax differs from the reference"),
            Assert(dut.nonfinite == shown_nonfinite, "nonfinite differs from the reference"),
            Assert(internal(signals, "rng.state", dut) == state, "helper: generator state"),
        ]
        return m


def _harness(prop):
    def build(hdl_gradient_unit):
        return stage_harness(lambda: hdl_gradient_unit.GradientUnit(LANES), prop,
                             i="i_grad", o="o_codes", counters=COUNTERS, stages=STAGES)
    return build


#: The reference proof's mutants: issue 15's two surviving gradient-unit mutants.
_REFERENCE_MUTANTS = (
    Mutant((("amax.i.valid.eq(fire)", "amax.i.valid.eq(1)"),),
           "the amax tracker also takes the bus while no beat is accepted", depth=REF_DEPTH),
    Mutant((("delivered=self.o_codes.valid & self.o_codes.ready,",
             "delivered=self.o_codes.valid,"),),
           "a code stalled on o_codes is counted once per cycle it waits", depth=REF_DEPTH),
)

PROOFS = [
    *(Proof(f"gradient_unit.{prop}", "gradient_unit", PROPERTIES[prop], MODULE,
            _harness(prop), "prove", 2, (_MUTANTS[prop],))
      for prop in PROPERTIES),
    Proof("gradient_unit.reference", "gradient_unit", REFERENCE, MODULE, _UnitReference,
          "bmc", REF_DEPTH, _REFERENCE_MUTANTS),
]
