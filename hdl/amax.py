"""The amax tracker: max |x| of a gradient tensor and the GradScale exponent it implies.

Delayed GradScale (docs/numerics.md section 5) quantizes iteration t of a layer with the exponent
computed from that layer's amax at iteration t-1, so the tracker only has to watch the stream
as it passes — one pass, no second read of the tensor. Comparing FP16 patterns with the sign
bit dropped as unsigned integers orders finite magnitudes correctly, so amax is a 15-bit
register and a comparator per lane.

The exponent ``g = floor(log2(64 / amax))`` is computed from the FP16 fields, as
:func:`golden.formats.grad_scale_exp` does: a normal amax with biased exponent ``e`` and
fraction ``f`` gives ``21 - e`` if ``f == 0`` (a power of two) else ``20 - e``; a subnormal with
``f`` of bit length ``b`` gives ``31 - b`` or ``30 - b``; an all-zero tensor gives 0. The range
is -10..30, well inside the signed 8-bit scale register.

NaN and Inf have no scale: the tracker leaves them out of amax and raises the sticky
``nonfinite`` flag instead, so one bad element cannot collapse the next iteration's exponent
to the minimum (the host decides what to do, e.g. skip the step as loss scaling does).

Pipelined (:class:`hdl.stream.Pipeline`, never stalled: a tap is always ready): a register
stage for the tapped beat, one per level of the max tree over the lanes, the running max,
a stage for the exponent's fields (leading one of the fraction) and an output register that
holds amax, nonfinite and the exponent, so all three describe the same beats.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bits import highest_set_bit
from hdl.params import check_positive_int
from hdl.stream import Pipeline

__all__ = ["AmaxTracker", "amax_latency", "grad_scale_exp_of"]


#: What the exponent is computed from, one register stage before it.
EXPONENT_FIELDS = data.StructLayout({"e": 5, "fraction_zero": 1, "power_of_two": 1,
                                     "bit_length": range(11), "zero": 1})


def exponent_fields(m: Module, amax) -> dict:
    """The :data:`EXPONENT_FIELDS` of a 15-bit FP16 magnitude (the leading-one detection)."""
    f = amax[0:10]
    nonzero_f, top_bit = highest_set_bit(m, f, "amax_f")
    return {"e": amax[10:15], "fraction_zero": ~nonzero_f,
            "power_of_two": f == (Const(1, 10) << top_bit)[:10],
            "bit_length": Mux(nonzero_f, top_bit + 1, 0), "zero": amax == 0}


def grad_scale_exp_of(m: Module, fields) -> Signal:
    """The GradScale exponent from a magnitude's :data:`EXPONENT_FIELDS` (0 for zero)."""
    g = Signal(signed(8))
    with m.If(fields.zero):
        m.d.comb += g.eq(0)
    with m.Elif(fields.e != 0):
        m.d.comb += g.eq(Mux(fields.fraction_zero, 21, 20) - fields.e)
    with m.Else():
        m.d.comb += g.eq(Mux(fields.power_of_two, 31, 30) - fields.bit_length)
    return g


def amax_latency(lanes: int) -> int:
    """:attr:`AmaxTracker.LATENCY` of a tracker of ``lanes`` lanes, without building one."""
    return 4 + (check_positive_int("lanes", lanes) - 1).bit_length()


class AmaxTracker(wiring.Component):
    """Tracks max |x| over the FP16 beats of stream ``i`` since the last ``clear``.

    ``i`` is a tap, declared ``always_ready``: its ``ready`` is the constant 1 (the tracker
    never stalls the stream it watches).
    ``clear`` starts a new tensor; a beat in the same cycle belongs to the new tensor.
    ``amax``, ``nonfinite`` and ``scale_exp`` (the exponent for the next iteration of the
    same layer, of ``amax``) are registered together: in cycle t + ``LATENCY`` they describe
    the beats and clears up to cycle t, whatever came later. So they are the tensor's
    ``LATENCY`` cycles after its last beat.

    Parameters
    ----------
    lanes : int
        FP16 elements per beat.
    """

    def __init__(self, lanes: int = 1):
        self._lanes = check_positive_int("lanes", lanes)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(16), lanes), always_ready=True)),
            "clear": In(1),
            "amax": Out(15),
            "scale_exp": Out(signed(8)),
            "nonfinite": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat (or clear) to the first cycle the outputs include it:
        the tap register, ceil(log2(lanes)) tree levels, the running max, the exponent
        fields, the output register (4 for one lane, 7 for eight)."""
        return amax_latency(self._lanes)

    def elaborate(self, platform):
        m = Module()
        tap = stream.Signature(1).create(path=("tap",))
        m.d.comb += tap.valid.eq(self.i.valid | self.clear)
        pipe = Pipeline(m, "amax", tap)

        def level_layout(n):
            return data.StructLayout({"mags": data.ArrayLayout(15, n), "nonfinite": 1,
                                      "clear": 1})

        n = self._lanes
        mags, nonfinite = [], 0
        for k in range(n):
            x = self.i.payload[k]
            finite = x[10:15] != 31
            mags.append(Mux(self.i.valid & finite, x[:15], 0))
            nonfinite = nonfinite | (self.i.valid & ~finite)
        held = pipe.stage("tap", level_layout(n),
                          {"mags": Cat(*mags), "nonfinite": nonfinite, "clear": self.clear})
        depth = 0
        while n > 1:
            pairs = []
            for k in range(0, n - 1, 2):
                a, b = held.mags[k], held.mags[k + 1]
                pairs.append(Mux(a > b, a, b))
            if n % 2:
                pairs.append(held.mags[n - 1])
            n = len(pairs)
            held = pipe.stage(f"max_{depth}", level_layout(n),
                              {"mags": Cat(*pairs), "nonfinite": held.nonfinite,
                               "clear": held.clear})
            depth += 1
        sink = stream.Signature(level_layout(1)).create(path=("tree",))
        m.d.comb += sink.ready.eq(1)
        pipe.connect(sink)

        best = Signal(15)
        seen_nonfinite = Signal()
        kept = Mux(sink.valid & sink.payload.clear, 0, best)
        beat_max = sink.payload.mags[0]
        with m.If(sink.valid):
            m.d.sync += [
                best.eq(Mux(beat_max > kept, beat_max, kept)),
                seen_nonfinite.eq(Mux(sink.payload.clear, 0, seen_nonfinite)
                                  | sink.payload.nonfinite),
            ]
        # The exponent takes two stages (fields, then the subtraction); amax and nonfinite
        # wait as long, so that all three outputs describe the same beats.
        fields = Signal(EXPONENT_FIELDS, init={"zero": 1})
        best_held, seen_held = Signal(15), Signal()
        m.d.sync += [getattr(fields, k).eq(v) for k, v in exponent_fields(m, best).items()]
        m.d.sync += [
            best_held.eq(best), seen_held.eq(seen_nonfinite),
            self.amax.eq(best_held),
            self.nonfinite.eq(seen_held),
            self.scale_exp.eq(grad_scale_exp_of(m, fields)),
        ]
        return m
