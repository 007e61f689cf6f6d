"""Formal harnesses of :class:`hdl.gradient_unit.GradientUnit` (2 lanes).

The four stream properties of :mod:`verif.formal.stage`, and ``reference``: the unit against
a reference built from :class:`verif.formal.r4_reference.R4Reference` lanes, lane k of a beat
taking draw k after the previous beat's (one xorshift32 stream in row-major order, as
docs/numerics.md section 4 requires), and a plain max over the accepted beats for amax.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal, Value

from golden.formats import DEFAULT_SEED
from hdl.r4_quantizer import SAT_COUNT_BITS
from verif.formal.props import drive_free, fires, internal, internal_signals
from verif.formal.r4_reference import R4Reference, xorshift32
from verif.formal.sby import Mutant, Proof
from verif.formal.stage import PROPERTIES, stage_harness

__all__ = ["PROOFS"]

LANES = 2
MODULE = "hdl.gradient_unit"
#: Outputs that a reset clears: the saturation count and the amax tracker's state.
COUNTERS = (lambda dut: dut.sat_count, lambda dut: dut.amax, lambda dut: dut.nonfinite)

_READY = "self.i_grad.ready.eq(~self.o_codes.valid | self.o_codes.ready)"
_MUTANTS = {
    "transfer": Mutant(((_READY, "self.i_grad.ready.eq(1)"),),
                       "i_grad.ready always high: a stalled beat of codes is overwritten"),
    "ready": Mutant(((_READY, "self.i_grad.ready.eq(~self.o_codes.valid"
                              " | self.o_codes.ready & self.i_grad.valid)"),),
                    "i_grad.ready also needs i_grad.valid"),
    "stable": Mutant((("with m.If(fire):\n                m.d.sync += self.o_codes",
                       "with m.If(self.i_grad.valid):\n"
                       "                m.d.sync += self.o_codes"),),
                     "the lanes' code registers load whenever i_grad.valid, also while stalled"),
    "reset": Mutant((("fire = self.i_grad.valid & self.i_grad.ready",
                      "ghost = Signal(reset_less=True)\n"
                      "        m.d.sync += ghost.eq(ResetSignal() & self.o_codes.valid)\n"
                      "        fire = self.i_grad.valid & self.i_grad.ready | ghost"),
                     ("from amaranth.hdl import ",
                      "from amaranth.hdl import ResetSignal, Signal, ")),
                    "a reset-less flag re-sends the beat held at reset after the reset"),
}


REFERENCE = ("codes, phase, sat_count, amax and nonfinite equal a reference unit: "
             "R4Reference lanes on draws b * N + k of one xorshift32 stream, amax the max "
             "finite magnitude of the beats accepted since amax_clear")


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
        expected = Signal.like(dut.o_codes.payload)
        sat_count = Signal(SAT_COUNT_BITS)
        amax = Signal(15)
        nonfinite = Signal()
        saturated = 0
        beat_max = 0
        beat_nonfinite = 0
        for k in range(LANES):
            m.submodules[f"ref_{k}"] = ref = R4Reference()
            x = dut.i_grad.payload[k]
            m.d.comb += [ref.x.eq(x), ref.phase.eq(dut.phase), ref.scale_exp.eq(dut.scale_exp),
                         ref.stochastic.eq(dut.stochastic), ref.draw.eq(draws[k])]
            with m.If(fire):
                m.d.sync += expected.lanes[k].eq(ref.result)
            saturated = saturated + ref.result.saturated
            finite = x[10:15] != 31
            beat_max = Mux(finite & (x[:15] > beat_max), x[:15], beat_max)
            beat_nonfinite = beat_nonfinite | ~finite
        with m.If(fire):
            m.d.sync += expected.phase.eq(dut.phase)
        with m.If(dut.seed_load):
            m.d.sync += state.eq(dut.seed)
        with m.Elif(fire & dut.stochastic):
            m.d.sync += state.eq(draws[-1])
        m.d.sync += sat_count.eq(Mux(dut.sat_clear, 0, sat_count) + Mux(fire, saturated, 0))
        kept = Mux(dut.amax_clear, 0, amax)
        m.d.sync += [
            amax.eq(Mux(fire & (beat_max > kept), beat_max, kept)),
            nonfinite.eq(Mux(dut.amax_clear, 0, nonfinite) | (fire & beat_nonfinite)),
        ]
        with m.If(dut.o_codes.valid):
            m.d.comb += Assert(Value.cast(dut.o_codes.payload) == Value.cast(expected),
                               "delivered codes differ from the reference unit")
        m.d.comb += [
            Assert(dut.sat_count == sat_count, "sat_count differs from the reference"),
            Assert(dut.amax == amax, "amax differs from the reference"),
            Assert(dut.nonfinite == nonfinite, "nonfinite differs from the reference"),
            Assert(internal(signals, "rng.state", dut) == state, "helper: generator state"),
        ]
        return m


def _harness(prop):
    def build(hdl_gradient_unit):
        return stage_harness(lambda: hdl_gradient_unit.GradientUnit(LANES), prop,
                             i="i_grad", o="o_codes", counters=COUNTERS)
    return build


#: The reference proof's mutants: issue 15's two surviving gradient-unit mutants.
_REFERENCE_MUTANTS = (
    Mutant((("amax.i.valid.eq(fire)", "amax.i.valid.eq(1)"),),
           "the amax tracker also takes the bus while no beat is accepted"),
    Mutant((("self.sat_count.eq(counted + Mux(fire, saturated, 0))",
             "self.sat_count.eq(Mux(self.sat_clear, 0,"
             " self.sat_count + Mux(fire, saturated, 0)))"),),
           "sat_clear drops a saturating beat of the same cycle"),
)

PROOFS = [
    *(Proof(f"gradient_unit.{prop}", "gradient_unit", PROPERTIES[prop], MODULE,
            _harness(prop), "prove", 2, (_MUTANTS[prop],))
      for prop in PROPERTIES),
    Proof("gradient_unit.reference", "gradient_unit", REFERENCE, MODULE, _UnitReference,
          "prove", 2, _REFERENCE_MUTANTS),
]
