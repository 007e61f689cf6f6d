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
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gemm import READOUT_OFFSET_BITS, check_acc_width
from hdl.params import check_positive_int

__all__ = ["READOUT_OUT_LAYOUT", "Fp16Round", "Readout", "ReadoutLanes"]

#: One read-out result: the FP16 bit pattern and the saturation flag.
READOUT_OUT_LAYOUT = data.StructLayout({
    "value": unsigned(16),
    "overflow": unsigned(1),
})

FP16_MAX_BITS = 0x7BFF
FP16_INF_BITS = 0x7C00


def readout_in_layout(acc_width: int) -> data.StructLayout:
    """Input beat of the read-out: one signed accumulator."""
    return data.StructLayout({"acc": signed(acc_width)})


class Fp16Round(wiring.Component):
    """Combinational ``acc * 2^exp_offset`` -> FP16 (RNE, subnormals, saturation).

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
        sign = self.acc[w - 1]
        mag = Signal(w)                               # |acc|; -2^(w-1) fits unsigned
        m.d.comb += mag.eq(Mux(sign, -self.acc, self.acc))

        msb = Signal(range(w))
        for b in range(w):
            with m.If(mag[b]):
                m.d.comb += msb.eq(b)
        lead_zeros = Signal(range(w))
        m.d.comb += lead_zeros.eq(w - 1 - msb)
        norm = Signal(w)                              # leading one at bit w-1
        m.d.comb += norm.eq(mag << lead_zeros)
        exponent = Signal(signed(11))                 # E = floor(log2 |value|)
        m.d.comb += exponent.eq(msb + self.exp_offset)

        # 13 bits: 11-bit significand, guard, sticky.
        ext = Signal(13)
        m.d.comb += ext.eq(Cat(norm[:w - 12] != 0, norm[w - 12], norm[w - 11:]))
        subnormal = exponent < -14
        denorm_shift = Signal(range(14))
        with m.If(exponent < -14 - 13):
            m.d.comb += denorm_shift.eq(13)
        with m.Elif(subnormal):
            m.d.comb += denorm_shift.eq(-14 - exponent)
        shifted = Signal(13)
        m.d.comb += shifted.eq(ext >> denorm_shift)
        lost = (shifted << denorm_shift)[:13] != ext
        significand = shifted[2:]
        guard = shifted[1]
        sticky = shifted[0] | lost
        round_up = guard & (sticky | significand[0])

        pattern = Signal(16)
        biased = Mux(subnormal, 0, (exponent + 14)[:5])
        m.d.comb += pattern.eq(Cat(Const(0, 10), biased) + significand + round_up)
        overflow = (exponent > 15) | (pattern >= FP16_INF_BITS)

        with m.If(mag == 0):
            m.d.comb += self.result.value.eq(0)
        with m.Elif(overflow):
            m.d.comb += self.result.value.eq(Cat(Const(FP16_MAX_BITS, 15), sign))
        with m.Else():
            m.d.comb += self.result.value.eq(Cat(pattern[:15], sign))
        m.d.comb += self.result.overflow.eq((mag != 0) & overflow)
        return m


class Readout(wiring.Component):
    """Stream of accumulators in, stream of FP16 results out, one per clock, latency 1.

    ``exp_offset`` (signed 9-bit; -7 - g for an R4 GEMM at GradScale exponent g) is sampled
    with each accepted beat. ``i.ready`` is ``~o.valid | o.ready``.

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

    def elaborate(self, platform):
        m = Module()
        m.submodules.round = rnd = Fp16Round(self._acc_width)
        fire = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~self.o.valid | self.o.ready),
            rnd.acc.eq(self.i.payload.acc),
            rnd.exp_offset.eq(self.exp_offset),
        ]
        with m.If(fire):
            m.d.sync += [self.o.payload.eq(rnd.result), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def readout_lanes_in_layout(acc_width: int, lanes: int) -> data.ArrayLayout:
    """Payload of :class:`ReadoutLanes` ``i``: ``lanes`` signed accumulators, element k in
    lane k."""
    return data.ArrayLayout(signed(acc_width), lanes)


def readout_lanes_out_layout(lanes: int) -> data.ArrayLayout:
    """Payload of :class:`ReadoutLanes` ``o``: one :data:`READOUT_OUT_LAYOUT` per lane."""
    return data.ArrayLayout(READOUT_OUT_LAYOUT, lanes)


class ReadoutLanes(wiring.Component):
    """``lanes`` read-out converters behind one stream register: a row of accumulators per clock.

    Lane k of every beat is :class:`Fp16Round` of element k, all lanes with the one
    ``exp_offset`` sampled with the beat; latency 1, ``i.ready`` is ``~o.valid | o.ready``, as
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

    def elaborate(self, platform):
        m = Module()
        fire = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        for k in range(self._lanes):
            rnd = Fp16Round(self._acc_width)
            m.submodules[f"lane_{k}"] = rnd
            m.d.comb += [rnd.acc.eq(self.i.payload[k]), rnd.exp_offset.eq(self.exp_offset)]
            with m.If(fire):
                m.d.sync += self.o.payload[k].eq(rnd.result)
        with m.If(fire):
            m.d.sync += self.o.valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
