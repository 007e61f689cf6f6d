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

The algorithm is written once, as the steps of :data:`STEPS` (each a few levels of logic):
:class:`R4Quantize` chains them combinationally, :class:`R4Pipeline` puts a register stage
(:class:`hdl.stream.Pipeline`) after each, for any number of lanes.
"""


from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl import controls
from hdl.bits import highest_set_bit
from hdl.params import check_positive_int
from hdl.stream import Pipeline
from hdl.xorshift import Xorshift32

__all__ = ["R4_OUT_LAYOUT", "STEPS", "R4Quantize", "R4Pipeline", "R4QuantizerLane",
           "count_saturated"]

#: One quantized element: the R4 code in the low 4 bits, then the per-element flags.
R4_OUT_LAYOUT = data.StructLayout({
    "code": unsigned(4),
    "invalid": unsigned(1),
    "saturated": unsigned(1),
})

#: The steps of one quantization, in order; the pipelined lanes register after each.
STEPS = ("fields", "normalise", "compare", "align", "decide", "code")

#: What every stage carries for the whole beat: ``bias = scale_exp + phase - 15`` (so that
#: ``ey = bias + e`` for a normal x), the rounding mode and the phase.
COMMON_LAYOUT = data.StructLayout({"bias": signed(10), "stochastic": 1, "phase": 1})

_FLAGS = {"sign": 1, "invalid": 1, "nan_or_zero": 1}
#: Per element: what each step hands to the next (the pipeline registers hold these).
STEP_LAYOUTS = {
    "fields": data.StructLayout({"e": 5, "f": 10, "lz": 4, "inf": 1, "zero": 1, "r": 16,
                                 **_FLAGS}),
    "normalise": data.StructLayout({"man": 11, "ey": signed(10), "inf": 1, "zero": 1,
                                    "r": 16, "r3": 18, **_FLAGS}),
    "compare": data.StructLayout({"man": 11, "distance": 12, "below_shift": 5, "t": 1,
                                  "top": 1, "in_range": 1, "lowest": 1, "efield_base": 3,
                                  "saturated": 1, "r": 16, "r3": 18, **_FLAGS}),
    "align": data.StructLayout({"aligned": 27, "up_stochastic": 1, "up_nearest": 1,
                                "top": 1, "in_range": 1, "lowest": 1, "efield_base": 3,
                                "saturated": 1, "r": 16, **_FLAGS}),
    "decide": data.StructLayout({"up": 1, "up_below": 1, "top": 1, "in_range": 1,
                                 "efield_base": 3, "saturated": 1, **_FLAGS}),
    "code": R4_OUT_LAYOUT,
}


def common_of(scale_exp, phase, stochastic) -> dict:
    """The :data:`COMMON_LAYOUT` fields of a beat from its configuration."""
    return {"bias": scale_exp + phase - 15, "stochastic": stochastic, "phase": phase}


def _step(m: Module, name: str, v, common) -> dict:
    """The values step ``name`` computes from ``v`` (the previous step's, or ``{"x", "draw"}``)
    and the beat's ``common`` fields."""
    if name == "fields":
        x = v["x"]
        e, f = x[10:15], x[0:10]
        # Subnormal normalisation: lz = 11 - bit_length(f), 0 for f == 0.
        nonzero, top_bit = highest_set_bit(m, f, "f")
        r = v["draw"][16:32]
        return {"e": e, "f": f, "lz": Mux(nonzero, 10 - top_bit, 0),
                "inf": (e == 31) & (f == 0), "zero": (e == 0) & (f == 0),
                "r": r, "sign": x[15], "invalid": e == 31,
                "nan_or_zero": ((e == 31) & (f != 0)) | ((e == 0) & (f == 0))}
    passed = {k: v[k] for k in _FLAGS}
    if name == "normalise":
        subnormal = v["e"] == 0
        man = Signal(11, name="man")
        m.d.comb += man.eq(Mux(subnormal, v["f"] << v["lz"], Cat(v["f"], Const(1, 1))))
        # ey = exp + scale_exp + phase, exp = e - 15 (normal) or -14 - lz (subnormal).
        ey = Mux(subnormal, common["bias"] + 1 - v["lz"], common["bias"] + v["e"])
        return {"man": man, "ey": ey, "inf": v["inf"], "zero": v["zero"], "r": v["r"],
                "r3": v["r"] + (v["r"] << 1), **passed}
    if name == "compare":
        ey, man = v["ey"], v["man"]
        t = ey[0]
        return {"man": man, "t": t,
                "distance": (man << t) - 1024,             # 0..3071
                "below_shift": Mux(ey < -23, 0, ey + 23),  # clamp(ey + 23, 0, 16), ey <= -7
                "top": v["inf"] | (ey >= 6), "in_range": ey >= -6, "lowest": ey == -7,
                "efield_base": (ey >> 1) + 4,
                "saturated": ~(v["nan_or_zero"] | v["inf"])
                             & ((ey > 6) | ((ey == 6) & (man != 1024))),
                "r": v["r"], "r3": v["r3"], **passed}
    if name == "align":
        return {"aligned": v["man"] << v["below_shift"],
                "up_stochastic": v["r3"] < Cat(Const(0, 6), v["distance"]),
                "up_nearest": v["t"] & (v["man"][9] | v["man"][8]),
                **{k: v[k] for k in ("top", "in_range", "lowest", "efield_base", "saturated",
                                     "r")}, **passed}
    if name == "decide":
        stochastic = common["stochastic"]
        up_below_stochastic = Cat(Const(0, 11), v["r"]) < v["aligned"]
        return {"up": Mux(stochastic, v["up_stochastic"], v["up_nearest"]),
                "up_below": Mux(stochastic, up_below_stochastic, v["lowest"]),
                **{k: v[k] for k in ("top", "in_range", "efield_base", "saturated")}, **passed}
    assert name == "code"
    efield = Signal(3, name="efield")
    with m.If(v["nan_or_zero"]):
        m.d.comb += efield.eq(0)
    with m.Elif(v["top"]):
        m.d.comb += efield.eq(7)
    with m.Elif(v["in_range"]):
        m.d.comb += efield.eq(v["efield_base"] + v["up"])
    with m.Else():
        m.d.comb += efield.eq(v["up_below"])
    return {"code": Mux(efield != 0, Cat(efield, v["sign"]), 0), "invalid": v["invalid"],
            "saturated": v["saturated"]}


class R4Quantize(wiring.Component):
    """Combinational FP16 -> R4 conversion of one element: the steps of :data:`STEPS`
    chained without registers.

    The reference the pipelined lanes are built from (proved equal to an independent
    reference for every input, verif/formal/r4_reference.py).
    """

    x: In(16)
    phase: In(1)
    scale_exp: In(signed(8))
    stochastic: In(1)
    draw: In(32)
    result: Out(R4_OUT_LAYOUT)

    def elaborate(self, platform):
        m = Module()
        common = Signal(COMMON_LAYOUT)
        m.d.comb += [getattr(common, k).eq(x) for k, x in
                     common_of(self.scale_exp, self.phase, self.stochastic).items()]
        v = {"x": self.x, "draw": self.draw}
        for name in STEPS:
            out = Signal(STEP_LAYOUTS[name], name=name)
            m.d.comb += [getattr(out, k).eq(x) for k, x in _step(m, name, v, common).items()]
            v = out
        m.d.comb += self.result.eq(v)
        return m


def pipeline_in_layout(lanes: int) -> data.StructLayout:
    """Payload of :class:`R4Pipeline` ``i``: per lane the FP16 pattern and its 32-bit draw,
    and the beat's configuration."""
    return data.StructLayout({
        "x": data.ArrayLayout(unsigned(16), lanes),
        "draw": data.ArrayLayout(unsigned(32), lanes),
        "phase": 1, "scale_exp": signed(8), "stochastic": 1,
    })


def pipeline_out_layout(lanes: int) -> data.StructLayout:
    """Payload of :class:`R4Pipeline` ``o``: per lane code and flags, the beat's phase, and
    the number of saturated elements of the beat."""
    return data.StructLayout({
        "lanes": data.ArrayLayout(R4_OUT_LAYOUT, lanes),
        "phase": 1,
        "saturated": range(lanes + 1),
    })


class R4Pipeline(wiring.Component):
    """``lanes`` FP16 -> R4 conversions per beat, one register stage per step of :data:`STEPS`.

    Lane k of beat ``o`` is :class:`R4Quantize` of element k with draw k and the beat's
    configuration. Handshake and timing are those of :class:`hdl.stream.Pipeline`: a beat
    accepted in cycle t is on ``o`` from cycle t + ``LATENCY`` if ``o`` is ready meanwhile;
    ``i.ready`` is ``o.ready | ~o.valid``.

    Parameters
    ----------
    lanes : int
        Elements per beat.
    """

    def __init__(self, lanes: int = 1):
        self._lanes = check_positive_int("lanes", lanes)
        super().__init__({
            "i": In(stream.Signature(pipeline_in_layout(self._lanes))),
            "o": Out(stream.Signature(pipeline_out_layout(self._lanes))),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat's handshake on ``i`` to its first cycle on ``o``: 6."""
        return len(STEPS)

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        pipe = Pipeline(m, "r4", self.i)
        beat = self.i.payload
        common = Signal(COMMON_LAYOUT, name="common_in")
        m.d.comb += [getattr(common, k).eq(x) for k, x in
                     common_of(beat.scale_exp, beat.phase, beat.stochastic).items()]
        values = [{"x": beat.x[k], "draw": beat.draw[k]} for k in range(n)]
        for name in STEPS:
            shape = data.StructLayout({"lanes": data.ArrayLayout(STEP_LAYOUTS[name], n),
                                       "common": COMMON_LAYOUT})
            source = Signal(shape, name=f"{name}_in")
            for k in range(n):
                m.d.comb += [getattr(source.lanes[k], f).eq(x)
                             for f, x in _step(m, name, values[k], common).items()]
            m.d.comb += source.common.eq(common)
            held = pipe.stage(name, shape, source)
            values = [held.lanes[k] for k in range(n)]
            common = held.common
        out = Signal(self.o.payload.shape())
        m.d.comb += [out.lanes.eq(pipe.last.lanes), out.phase.eq(pipe.last.common.phase),
                     out.saturated.eq(sum(pipe.last.lanes[k].saturated for k in range(n)))]
        pipe.connect(self.o, out)
        return m


def count_saturated(m: Module, *, sat_count, sat_clear, accepted, delivered, saturated,
                    latency: int) -> None:
    """Drive ``sat_count``: the saturated elements of the beats delivered since reset, of
    those accepted in or after the cycle of the last ``sat_clear``.

    ``accepted`` / ``delivered`` are the input and output handshakes of a pipeline of
    ``latency`` stages, ``saturated`` the count of the beat being delivered. A clear zeroes
    the count and marks the beats then in flight (accepted before it, not yet delivered) to
    be skipped when they come out, so the count includes exactly the beats an unpipelined
    unit would have counted after the same clear. A beat delivered in cycle d is in the
    count from cycle d + 2 (its share is registered once, off the adder's path); so the
    count is complete two cycles after the last beat has left.
    """
    in_flight = Signal(range(latency + 1), name="in_flight")
    skip = Signal(range(latency + 1), name="skip")
    pending = Signal.like(saturated, name="pending")    # the last delivered beat's share
    m.d.sync += in_flight.eq(in_flight + accepted - delivered)
    with m.If(sat_clear):
        m.d.sync += [skip.eq(in_flight - delivered), sat_count.eq(0), pending.eq(0)]
    with m.Else():
        m.d.sync += [sat_count.eq(sat_count + pending),
                     pending.eq(Mux(delivered & (skip == 0), saturated, 0))]
        with m.If(delivered & (skip != 0)):
            m.d.sync += skip.eq(skip - 1)


class R4QuantizerLane(wiring.Component):
    """One FP16 -> R4 quantizer lane: stream in, pipelined stream out, generator, counter.

    The configuration inputs (``phase``, ``scale_exp``, ``stochastic``) are sampled with each
    accepted input beat, so they may change between beats without draining the lane. The
    random generator advances by one draw for every beat accepted while ``stochastic`` is
    high — whatever the element's value — and holds otherwise; hence, from reset (state
    :data:`golden.formats.DEFAULT_SEED`) the stochastic beats of a stream get exactly the codes
    of ``r4_quantize(..., rounding="stochastic")`` on those elements. ``seed_load`` loads
    ``seed`` (non-zero) instead; a beat accepted in the same cycle still uses the old state.

    ``sat_count`` counts the elements with the ``saturated`` flag of the beats accepted since
    reset or the last ``sat_clear`` (a saturating beat accepted in the clear cycle counts
    towards the new total); a beat is counted when it leaves on ``o``, so the count is
    complete once the lane has delivered every beat (see :func:`count_saturated`).

    Timing: :class:`R4Pipeline` of one lane, ``LATENCY`` (6) stages; ``i.ready`` is
    ``o.ready | ~o.valid``, one element per clock under no backpressure.
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(unsigned(16))),
            "o": Out(stream.Signature(R4_OUT_LAYOUT)),
            # The gradient unit's controls less the amax tracker's (hdl.controls).
            **controls.members(*controls.CONFIG, *controls.SATURATION),
        })

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat's handshake on ``i`` to its first cycle on ``o``: 6."""
        return len(STEPS)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rng = rng = Xorshift32(steps=1)
        m.submodules.quantize = quantize = R4Pipeline(1)

        fire = self.i.valid & self.i.ready
        m.d.comb += [
            quantize.i.valid.eq(self.i.valid),
            self.i.ready.eq(quantize.i.ready),
            quantize.i.payload.x[0].eq(self.i.payload),
            quantize.i.payload.draw[0].eq(rng.draws[0]),
            quantize.i.payload.phase.eq(self.phase),
            quantize.i.payload.scale_exp.eq(self.scale_exp),
            quantize.i.payload.stochastic.eq(self.stochastic),
            rng.advance.eq(fire & self.stochastic),
            rng.seed.eq(self.seed),
            rng.seed_load.eq(self.seed_load),
            self.o.valid.eq(quantize.o.valid),
            quantize.o.ready.eq(self.o.ready),
            self.o.payload.eq(quantize.o.payload.lanes[0]),
        ]
        count_saturated(m, sat_count=self.sat_count, sat_clear=self.sat_clear, accepted=fire,
                        delivered=self.o.valid & self.o.ready,
                        saturated=quantize.o.payload.saturated, latency=len(STEPS))
        return m
