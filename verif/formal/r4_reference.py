"""A reference R4 quantizer written from docs/numerics.md section 3, and the equivalence
harnesses that hold the RTL to it.

:class:`R4Reference` is deliberately written another way than :class:`hdl.r4_quantizer.
R4Quantize`: the subnormal significand comes from a first-match chain from the top bit (the
RTL lets the last assignment win from the bottom bit), the nearest rule is the real-number
rule ``y >= 2.5 L`` in integers (``man * 2^t >= 2560``), the stochastic comparisons are the
unscaled ones of the contract (``r * 3072 < (man * 2^t - 1024) * 2^16`` and ``r < man *
2^(ey + 12)``, the latter as ``r * 2^-(ey + 12) < man`` below ey = -12, with a wide shift
instead of the RTL's clamp), and the exponent field comes from a table of ey.
"""

from amaranth.hdl import Assert, Cat, Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import DEFAULT_SEED
from hdl.controls import SAT_COUNT_BITS
from hdl.r4_quantizer import R4_OUT_LAYOUT
from verif.formal.props import (drive_free, expected_queue, fires, input_ports, internal,
                                internal_signals)

__all__ = ["EQUIVALENCE", "QUEUE_DEPTH", "R4Reference", "equivalence_harness", "lane_harness",
           "sat_count_reference", "xorshift32"]

#: Proof name -> the sentence it proves.
EQUIVALENCE = {
    "equivalence": "R4Quantize == R4Reference (code, invalid, saturated) for every x, phase, "
                   "scale_exp, stochastic and draw",
    "lane": "every code the lane delivers, in order, and its sat_count equal those of a "
            "reference lane (R4Reference at acceptance, a queue of the beats in flight, its "
            "own xorshift32 state, seed_load and sat_clear rules)",
}


class R4Reference(wiring.Component):
    """FP16 -> R4 code and flags by docs/numerics.md section 3.2 (same ports as R4Quantize)."""

    x: In(16)
    phase: In(1)
    scale_exp: In(signed(8))
    stochastic: In(1)
    draw: In(32)
    result: Out(R4_OUT_LAYOUT)

    def elaborate(self, platform):
        m = Module()
        sign, biased, frac = self.x[15], self.x[10:15], self.x[:10]
        r = self.draw[16:]

        # x = man / 1024 * 2^exp with 1024 <= man < 2048, for finite non-zero x.
        man = Signal(11)
        exp = Signal(signed(6))
        with m.If(biased != 0):
            m.d.comb += [man.eq(1024 + frac), exp.eq(biased - 15)]
        for top in reversed(range(10)):
            with m.Elif(frac[top]):
                m.d.comb += [man.eq(frac << (10 - top)), exp.eq(top - 24)]

        ey = Signal(signed(12))                      # floor(log2(y)), y = |x| * 2^(g + p)
        m.d.comb += ey.eq(exp + self.scale_exp + self.phase)
        scaled = Mux(ey[0], man << 1, man)           # y / L * 1024, L = 4^floor(ey / 2)
        up_nearest = scaled >= 2560                  # y >= 2.5 L
        up_stochastic = r * 3072 < ((scaled - 1024) << 16)
        up = Mux(self.stochastic, up_stochastic, up_nearest)
        level = Signal(3)                            # exponent field of L
        with m.Switch(ey):
            for v in range(-6, 6):
                with m.Case(v):
                    m.d.comb += level.eq((v + 8) // 2)

        below_up_shift = Signal(3)                   # ey + 12 for -12 <= ey <= -7
        below_down_shift = Signal(8)                 # -12 - ey for ey < -12
        m.d.comb += [below_up_shift.eq(ey + 12), below_down_shift.eq(-12 - ey)]
        below_stochastic = Mux(ey >= -12, r < (man << below_up_shift),
                               (r << below_down_shift) < man)
        below = Mux(self.stochastic, below_stochastic, ey == -7)

        efield = Signal(3)
        finite_nonzero = (biased != 31) & (self.x[:15] != 0)
        with m.If(biased == 31):
            m.d.comb += efield.eq(Mux(frac == 0, 7, 0))
        with m.Elif(~finite_nonzero):
            m.d.comb += efield.eq(0)
        with m.Elif(ey >= 6):
            m.d.comb += efield.eq(7)
        with m.Elif(ey >= -6):
            m.d.comb += efield.eq(level + up)
        with m.Else():
            m.d.comb += efield.eq(below)

        m.d.comb += [
            self.result.code.eq(Mux(efield == 0, 0, Cat(efield, sign))),
            self.result.invalid.eq(biased == 31),
            self.result.saturated.eq(finite_nonzero & ((ey > 6) | ((ey == 6) & (man[:10] != 0)))),
        ]
        return m


class _Equivalence(Elaboratable):
    def __init__(self, hdl_r4_quantizer):
        self._module = hdl_r4_quantizer

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._module.R4Quantize()
        m.submodules.ref = ref = R4Reference()
        drive_free(m, dut)
        for path, value in input_ports(dut):
            m.d.comb += Value.cast(getattr(ref, path[0])).eq(value)
        m.d.comb += Assert(Value.cast(dut.result) == Value.cast(ref.result),
                           "R4Quantize differs from R4Reference")
        return m


def equivalence_harness(hdl_r4_quantizer) -> Elaboratable:
    """Combinational miter of ``R4Quantize`` and :class:`R4Reference` on the same inputs."""
    return _Equivalence(hdl_r4_quantizer)


def xorshift32(s):
    """One step of docs/numerics.md section 4 on a 32-bit value."""
    s = s ^ (s << 13)[:32]
    s = s ^ (s >> 17)
    return s ^ (s << 5)[:32]


#: Entries of the harness's queue of expected results: more than a pipeline holds.
QUEUE_DEPTH = 8


def sat_count_reference(m: Module, *, sat_clear, pop, counted, saturated) -> Signal:
    """``sat_count`` as documented: a delivered beat's saturated elements, if it was
    accepted since the last clear (``counted``), are in the count from two cycles after its
    delivery (``pop``); a clear zeroes the count at once."""
    share = Signal.like(saturated, name="share_ref")
    sat_count = Signal(SAT_COUNT_BITS, name="sat_count_ref")
    with m.If(sat_clear):
        m.d.sync += [sat_count.eq(0), share.eq(0)]
    with m.Else():
        m.d.sync += [sat_count.eq(sat_count + share),
                     share.eq(Mux(pop & counted, saturated, 0))]
    return sat_count


class _LaneReference(Elaboratable):
    def __init__(self, hdl_r4_quantizer):
        self._module = hdl_r4_quantizer

    def elaborate(self, platform):
        m = Module()
        dut = self._module.R4QuantizerLane()
        m.submodules.dut, signals = internal_signals(dut, platform)
        m.submodules.ref = ref = R4Reference()
        drive_free(m, dut)
        state = Signal(32, init=DEFAULT_SEED)
        draw = Signal(32)
        fire = fires(dut.i)
        m.d.comb += [
            draw.eq(xorshift32(state)),
            ref.x.eq(dut.i.payload),
            ref.phase.eq(dut.phase),
            ref.scale_exp.eq(dut.scale_exp),
            ref.stochastic.eq(dut.stochastic),
            ref.draw.eq(draw),
        ]
        with m.If(dut.seed_load):
            m.d.sync += state.eq(dut.seed)
        with m.Elif(fire & dut.stochastic):
            m.d.sync += state.eq(draw)
        delivered = fires(dut.o)
        expected, counted = expected_queue(m, depth=QUEUE_DEPTH, shape=R4_OUT_LAYOUT, push=fire,
                                           value=ref.result, pop=delivered,
                                           forget=dut.sat_clear)
        sat_count = sat_count_reference(m, sat_clear=dut.sat_clear, pop=delivered,
                                        counted=counted, saturated=expected.saturated)
        with m.If(dut.o.valid):
            m.d.comb += Assert(Value.cast(dut.o.payload) == Value.cast(expected),
                               "delivered code differs from the reference lane")
        m.d.comb += [
            Assert(dut.sat_count == sat_count, "sat_count differs from the reference"),
            Assert(internal(signals, "rng.state", dut) == state, "helper: generator state"),
        ]
        return m


def lane_harness(hdl_r4_quantizer) -> Elaboratable:
    """``R4QuantizerLane`` with free inputs against a reference lane built on R4Reference."""
    return _LaneReference(hdl_r4_quantizer)
