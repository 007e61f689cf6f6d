"""Accumulator -> FP16 read-out converter, bit-exact with golden.gemm.readout.

The contract is docs/numerics.md section 6.

The value ``acc * 2^exp_offset`` is rounded once, to nearest-even, into IEEE binary16:

* the magnitude is normalised with a leading-one detector and a left shift, which gives the
  11-bit significand, the guard bit and a sticky bit, and the unbiased exponent
  ``E = msb + exp_offset`` (11-bit signed: every offset of the 9-bit register with every
  accumulator width, so nothing wraps);
* results below 2^-14 are shifted further right by ``-14 - E`` (capped at 13, past which all
  bits are sticky) to become IEEE subnormals, collecting the bits shifted out into sticky;
* round up iff guard and (sticky or the significand's LSB); the FP16 pattern is then
  ``(E + 14) * 2^10 + significand`` (0 * 2^10 + significand for subnormals), which lets a
  rounding carry move into the exponent field by itself;
* a pattern at or above Inf's (0x7C00), or ``E > 15``, saturates to +-65504 and raises
  ``overflow``. Zero reads out as +0; a negative value that rounds to zero keeps its sign
  (-0), as numpy's float16 cast does.

The algorithm is written once, as the eight steps of :data:`STEPS` (each a few levels of
logic); :class:`Fp16Round` chains them combinationally, :class:`Readout` and
:class:`ReadoutLanes` put a register stage (:class:`hdl.stream.Pipeline`) after each
(latency 8).
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import READOUT_OFFSET_BITS, check_acc_width
from hdl.bits import highest_set_bit
from hdl.params import check_positive_int
from hdl.stream import Pipeline

__all__ = ["READOUT_OUT_LAYOUT", "STEPS", "Fp16Round", "Readout", "ReadoutLanes"]

#: One read-out result: the FP16 bit pattern and the saturation flag.
READOUT_OUT_LAYOUT = data.StructLayout({
    "value": unsigned(16),
    "overflow": unsigned(1),
})

FP16_MAX_BITS = 0x7BFF
FP16_INF_BITS = 0x7C00

#: The steps of one conversion, in order; the pipelined read-outs register after each.
STEPS = ("capture", "magnitude", "lead", "coarse", "fine", "align", "round", "select")
#: The steps that still need ``exp_offset`` (it is used by ``coarse``).
OFFSET_STEPS = 4


def readout_in_layout(acc_width: int) -> data.StructLayout:
    """Input beat of the read-out: one signed accumulator."""
    return data.StructLayout({"acc": signed(acc_width)})


def _step_layouts(w: int) -> dict[str, data.StructLayout]:
    """Per element: what each step hands to the next (the pipeline registers hold these)."""
    flags = {"sign": 1, "zero": 1}
    return {
        "capture": data.StructLayout({"acc": signed(w)}),
        "magnitude": data.StructLayout({"mag": w, "sign": 1}),
        "lead": data.StructLayout({"mag": w, "msb": range(w), **flags}),
        "coarse": data.StructLayout({"norm": w, "shift": 2, "exponent": signed(11), **flags}),
        "fine": data.StructLayout({"ext": 13, "denorm_shift": range(14), "biased": 5,
                                   "big": 1, **flags}),
        "align": data.StructLayout({"shifted": 13, "lost": 1, "biased": 5, "big": 1, **flags}),
        "round": data.StructLayout({"pattern": 16, "big": 1, **flags}),
        "select": READOUT_OUT_LAYOUT,
    }


def _step(m: Module, name: str, w: int, v, exp_offset) -> dict:
    """The values step ``name`` computes from ``v`` (the previous step's, or ``{"acc"}``)."""
    if name == "capture":                        # registers the beat: the negation starts
        return {"acc": v["acc"]}                  # from a flip-flop, not from the port
    if name == "magnitude":
        sign = v["acc"][w - 1]
        return {"mag": Mux(sign, -v["acc"], v["acc"]), "sign": sign}  # -2^(w-1) fits unsigned
    if name == "lead":
        nonzero, msb = highest_set_bit(m, v["mag"], "mag")
        return {"mag": v["mag"], "msb": msb, "sign": v["sign"], "zero": ~nonzero}
    if name == "coarse":
        # Normalise in two steps: the left shift by a multiple of 4 here, the rest in "fine".
        lead_zeros = Signal(range(w), name="lead_zeros")
        m.d.comb += lead_zeros.eq(w - 1 - v["msb"])
        return {"norm": v["mag"] << Cat(Const(0, 2), lead_zeros[2:]),
                "shift": lead_zeros[:2],
                "exponent": v["msb"] + exp_offset,              # E = floor(log2 |value|)
                "sign": v["sign"], "zero": v["zero"]}
    if name == "fine":
        norm = Signal(w, name="norm")                         # leading one at bit w-1
        m.d.comb += norm.eq(v["norm"] << v["shift"])
        exponent = v["exponent"]
        denorm_shift = Signal(range(14), name="denorm_shift")
        with m.If(exponent < -14 - 13):
            m.d.comb += denorm_shift.eq(13)
        with m.Elif(exponent < -14):
            m.d.comb += denorm_shift.eq(-14 - exponent)
        return {"ext": Cat(norm[:w - 12] != 0, norm[w - 12], norm[w - 11:]),  # sig, guard, sticky
                "denorm_shift": denorm_shift,
                "biased": Mux(exponent < -14, 0, (exponent + 14)[:5]),
                "big": exponent > 15, "sign": v["sign"], "zero": v["zero"]}
    if name == "align":
        shift = v["denorm_shift"]
        lost_mask = Cat(*(shift > b for b in range(13)))    # the bits the shift drops
        return {"shifted": v["ext"] >> shift, "lost": (v["ext"] & lost_mask) != 0,
                "biased": v["biased"], "big": v["big"], "sign": v["sign"], "zero": v["zero"]}
    if name == "round":
        shifted = v["shifted"]
        significand, guard = shifted[2:], shifted[1]
        sticky = shifted[0] | v["lost"]
        round_up = guard & (sticky | significand[0])
        return {"pattern": Cat(Const(0, 10), v["biased"]) + significand + round_up,
                "big": v["big"], "sign": v["sign"], "zero": v["zero"]}
    assert name == "select"
    pattern, sign = v["pattern"], v["sign"]
    overflow = v["big"] | (pattern >= FP16_INF_BITS)
    value = Mux(v["zero"], 0,
                Mux(overflow, Cat(Const(FP16_MAX_BITS, 15), sign), Cat(pattern[:15], sign)))
    return {"value": value, "overflow": ~v["zero"] & overflow}


class Fp16Round(wiring.Component):
    """Combinational ``acc * 2^exp_offset`` -> FP16 (RNE, subnormals, saturation).

    The steps of :data:`STEPS` chained without registers: the reference the pipelined
    read-outs are built from, for formal proofs and for composing into other logic.

    Parameters
    ----------
    acc_width : int
        Signed accumulator width, 18..48 (golden.gemm's range).
    """

    def __init__(self, acc_width: int = 32):
        self._acc_width = check_acc_width(acc_width)
        super().__init__({
            "acc": In(signed(acc_width)),
            "exp_offset": In(signed(READOUT_OFFSET_BITS)),
            "result": Out(READOUT_OUT_LAYOUT),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    def elaborate(self, platform):
        m = Module()
        w = self._acc_width
        v = {"acc": self.acc}
        for name, layout in _step_layouts(w).items():
            out = Signal(layout, name=name)
            computed = _step(m, name, w, v, self.exp_offset)
            m.d.comb += [getattr(out, k).eq(x) for k, x in computed.items()]
            v = out
        m.d.comb += self.result.eq(v)
        return m


def _pipeline(m: Module, upstream, accs, exp_offset, w: int, lanes: int) -> Pipeline:
    """The steps over ``lanes`` elements, registered after each, behind ``upstream``; the last
    stage's payload has field ``lanes``: ``lanes`` :data:`READOUT_OUT_LAYOUT` structs."""
    pipe = Pipeline(m, "readout", upstream)
    layouts = _step_layouts(w)
    values = [{"acc": acc} for acc in accs]
    for n, name in enumerate(STEPS):
        fields = {"lanes": data.ArrayLayout(layouts[name], lanes)}
        carry_offset = n + 1 < OFFSET_STEPS
        if carry_offset:
            fields["exp_offset"] = signed(READOUT_OFFSET_BITS)
        source = Signal(data.StructLayout(fields), name=f"{name}_in")
        for k in range(lanes):
            computed = _step(m, name, w, values[k], exp_offset)
            m.d.comb += [getattr(source.lanes[k], f).eq(x) for f, x in computed.items()]
        if carry_offset:
            m.d.comb += source.exp_offset.eq(exp_offset)
        held = pipe.stage(name, source.shape(), source)
        values = [held.lanes[k] for k in range(lanes)]
        if carry_offset:
            exp_offset = held.exp_offset
    return pipe


def _entry() -> SimpleNamespace:
    """The handshake end the read-outs wire their input port to (the steps read the port's
    payload directly). Plain signals: an output end built the same way (a stream interface
    or signals between the last stage and ``o``) made Yosys 0.70's ``synth_ice40`` fail an
    internal assertion in ABC9 reintegration, so the last stage drives ``o`` itself."""
    return SimpleNamespace(valid=Signal(name="entry_valid"), ready=Signal(name="entry_ready"))


class Readout(wiring.Component):
    """Stream of accumulators in, stream of FP16 results out, one per clock.

    ``exp_offset`` (signed 9-bit; -7 - g for an R4 GEMM at GradScale exponent g) is sampled
    with each accepted beat. The conversion runs through :data:`STEPS`, one
    register stage each (:class:`hdl.stream.Pipeline`): a beat accepted in cycle t is on ``o`` from
    cycle t + ``LATENCY`` when ``o`` is ready; ``i.ready`` is ``~valid | ready`` of the
    first stage, so under no backpressure one beat enters and one leaves per clock, and a
    stalled ``o`` fills the stages before ``i.ready`` drops.

    Parameters
    ----------
    acc_width : int
        Signed accumulator width, 18..48, as the array's.
    """

    def __init__(self, acc_width: int = 32):
        self._acc_width = check_acc_width(acc_width)
        super().__init__({
            "i": In(stream.Signature(readout_in_layout(acc_width))),
            "o": Out(stream.Signature(READOUT_OUT_LAYOUT)),
            "exp_offset": In(signed(READOUT_OFFSET_BITS)),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat's handshake on ``i`` to its first cycle on ``o``: 8."""
        return len(STEPS)

    def elaborate(self, platform):
        m = Module()
        entry = _entry()
        m.d.comb += [entry.valid.eq(self.i.valid), self.i.ready.eq(entry.ready)]
        pipe = _pipeline(m, entry, [self.i.payload.acc], self.exp_offset, self._acc_width, 1)
        pipe.connect(self.o, pipe.last.lanes[0])
        return m


def readout_lanes_in_layout(acc_width: int, lanes: int) -> data.ArrayLayout:
    """Payload of :class:`ReadoutLanes` ``i``: ``lanes`` signed accumulators, element k in
    lane k."""
    return data.ArrayLayout(signed(acc_width), lanes)


def readout_lanes_out_layout(lanes: int) -> data.ArrayLayout:
    """Payload of :class:`ReadoutLanes` ``o``: one :data:`READOUT_OUT_LAYOUT` per lane."""
    return data.ArrayLayout(READOUT_OUT_LAYOUT, lanes)


class ReadoutLanes(wiring.Component):
    """``lanes`` read-out converters in one pipeline: a row of accumulators per clock.

    Lane k of every beat is :class:`Fp16Round` of element k, all lanes with the one
    ``exp_offset`` sampled with the beat; the stages, ``LATENCY`` and handshake are those of
    :class:`Readout`. With ``lanes`` equal to the array's column count it keeps up with a
    drained result row per clock.

    Parameters
    ----------
    acc_width : int
        Signed accumulator width, 18..48, as the array's.
    lanes : int
        Accumulators per beat (a positive integer).
    """

    def __init__(self, acc_width: int = 32, lanes: int = 4):
        self._acc_width = check_acc_width(acc_width)
        self._lanes = check_positive_int("lanes", lanes)
        super().__init__({
            "i": In(stream.Signature(readout_lanes_in_layout(self._acc_width, self._lanes))),
            "o": Out(stream.Signature(readout_lanes_out_layout(self._lanes))),
            "exp_offset": In(signed(READOUT_OFFSET_BITS)),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat's handshake on ``i`` to its first cycle on ``o``: 8."""
        return len(STEPS)

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        entry = _entry()
        m.d.comb += [entry.valid.eq(self.i.valid), self.i.ready.eq(entry.ready)]
        pipe = _pipeline(m, entry, [self.i.payload[k] for k in range(n)], self.exp_offset,
                         self._acc_width, n)
        pipe.connect(self.o, pipe.last.lanes)
        return m
