"""The FP16 -> R4 quantizer lane of the gradient unit (docs/numerics.md section 3).

The lane does, in gates, the integer algorithm of :func:`golden.formats.r4_quantize`:

* split the FP16 pattern into sign, an 11-bit normalised significand ``man`` (subnormals are
  shifted up by a priority encoder) and the exponent floor(log2|x|);
* ``ey = exp + scale_exp + phase`` in 10-bit signed arithmetic, wide enough for every 8-bit
  GradScale exponent (-152..143), so extreme scale exponents cannot wrap;
* ``ey >= 6`` saturates to the top level; ``-6 <= ey < 6`` lies between the levels
  L = 4^(ey >> 1) and 4L, the low bit ``t`` of ``ey`` says whether y is in [L, 2L) or [2L, 4L);
* nearest rounding rounds up iff ``t`` and ``man >= 1280`` (two mantissa bits);
  stochastic rounding compares a 16-bit random draw ``r`` against the distance to L in
  integers: up iff ``3 r < ((man << t) - 1024) << 6`` (golden's ``r*3072 < (...) << 16``
  divided by 2^10, exact);
* below range, nearest maps [2^-7, 2^-6) to the lowest level and everything smaller to zero;
  stochastic goes up iff ``r < man * 2^(ey+12)``, done as ``r << 11 < man << clamp(ey+23, 0,
  16)``, which stays exact for every ``ey`` because ``man < 2^11``.

The R4 exponent field is then ``(ey >> 1) + 4 + up`` (1..7), NaN gives code 0 and +-Inf
+-max, both with the ``invalid`` flag; a finite y > 64 raises ``saturated``.
"""


from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.xorshift import Xorshift32

__all__ = ["R4_OUT_LAYOUT", "R4Quantize", "R4QuantizerLane"]

#: One quantized element: the R4 code in the low 4 bits, then the per-element flags.
R4_OUT_LAYOUT = data.StructLayout({
    "code": unsigned(4),
    "invalid": unsigned(1),
    "saturated": unsigned(1),
})

#: Bits of the saturation counters (a 16-bit tensor of 2^32 elements will not occur).
SAT_COUNT_BITS = 32


class R4Quantize(wiring.Component):
    """Combinational FP16 -> R4 conversion of one element; the datapath shared by all lanes.

    Kept separate from the stream handling so the parallel :class:`GradientUnit` instantiates
    exactly the logic that the standalone lane is verified with.
    """

    x: In(16)
    phase: In(1)
    scale_exp: In(signed(8))
    stochastic: In(1)
    draw: In(32)
    result: Out(R4_OUT_LAYOUT)

    def elaborate(self, platform):
        m = Module()
        sign = self.x[15]
        e = self.x[10:15]
        f = self.x[0:10]

        nan = (e == 31) & (f != 0)
        inf = (e == 31) & (f == 0)
        zero = (e == 0) & (f == 0)

        # Subnormal normalisation: lz = 11 - bit_length(f); the highest set bit wins.
        lz = Signal(4)
        for b in range(10):
            with m.If(f[b]):
                m.d.comb += lz.eq(10 - b)
        man = Signal(11)
        exp = Signal(signed(10))
        with m.If(e == 0):
            m.d.comb += [man.eq(f << lz), exp.eq(-14 - lz)]
        with m.Else():
            m.d.comb += [man.eq(Cat(f, Const(1, 1))), exp.eq(e - 15)]

        ey = Signal(signed(10))
        m.d.comb += ey.eq(exp + self.scale_exp + self.phase)
        t = ey[0]
        r = self.draw[16:32]

        up_nearest = t & (man[9] | man[8])
        distance = Signal(12)                       # (man << t) - 1024: 0..3071
        m.d.comb += distance.eq((man << t) - 1024)
        up_stochastic = (r * 3) < Cat(Const(0, 6), distance)
        up = Mux(self.stochastic, up_stochastic, up_nearest)

        below_shift = Signal(5)                     # clamp(ey + 23, 0, 16) for ey <= -7
        with m.If(ey < -23):
            m.d.comb += below_shift.eq(0)
        with m.Else():
            m.d.comb += below_shift.eq(ey + 23)
        up_below_stochastic = Cat(Const(0, 11), r) < (man << below_shift)
        up_below = Mux(self.stochastic, up_below_stochastic, ey == -7)

        efield = Signal(3)
        with m.If(nan | zero):
            m.d.comb += efield.eq(0)
        with m.Elif(inf | (ey >= 6)):
            m.d.comb += efield.eq(7)
        with m.Elif(ey >= -6):
            m.d.comb += efield.eq((ey >> 1) + 4 + up)
        with m.Else():
            m.d.comb += efield.eq(up_below)

        m.d.comb += [
            self.result.code.eq(Mux(efield != 0, Cat(efield, sign), 0)),
            self.result.invalid.eq(e == 31),
            self.result.saturated.eq(~(nan | inf | zero)
                                     & ((ey > 6) | ((ey == 6) & (man != 1024)))),
        ]
        return m


class R4QuantizerLane(wiring.Component):
    """One FP16 -> R4 quantizer lane with a stream in, a registered stream out.

    The configuration inputs (``phase``, ``scale_exp``, ``stochastic``) are sampled with each
    accepted input beat, so they may change between beats without draining the lane. The
    random generator advances by one draw for every beat accepted while ``stochastic`` is
    high — whatever the element's value — and holds otherwise; hence, from reset (state
    :data:`golden.formats.DEFAULT_SEED`) the stochastic beats of a stream get exactly the codes
    of ``r4_quantize(..., rounding="stochastic")`` on those elements. ``seed_load`` loads
    ``seed`` (non-zero) instead; a beat accepted in the same cycle still uses the old state.

    ``sat_count`` counts accepted elements with the ``saturated`` flag; ``sat_clear`` zeroes
    it (a saturating beat in the same cycle counts towards the new total, giving 1).

    Latency is one cycle; ``i.ready`` is ``~o.valid | o.ready``, so the lane takes one element
    per clock under no backpressure.
    """

    i: In(stream.Signature(unsigned(16)))
    o: Out(stream.Signature(R4_OUT_LAYOUT))
    phase: In(1)
    scale_exp: In(signed(8))
    stochastic: In(1)
    seed: In(32)
    seed_load: In(1)
    sat_count: Out(SAT_COUNT_BITS)
    sat_clear: In(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rng = rng = Xorshift32(steps=1)
        m.submodules.quantize = quantize = R4Quantize()

        fire = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~self.o.valid | self.o.ready),
            quantize.x.eq(self.i.payload),
            quantize.phase.eq(self.phase),
            quantize.scale_exp.eq(self.scale_exp),
            quantize.stochastic.eq(self.stochastic),
            quantize.draw.eq(rng.draws[0]),
            rng.advance.eq(fire & self.stochastic),
            rng.seed.eq(self.seed),
            rng.seed_load.eq(self.seed_load),
        ]
        with m.If(fire):
            m.d.sync += [self.o.payload.eq(quantize.result), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        counted = Mux(self.sat_clear, 0, self.sat_count)
        m.d.sync += self.sat_count.eq(counted + (fire & quantize.result.saturated))
        return m
