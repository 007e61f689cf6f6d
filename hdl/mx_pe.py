"""The MXFP4 processing element: one dot product in the window of docs/numerics.md §10.5.

One PE computes one output of :func:`golden.gemm_mx.gemm_mxfp4` bit for bit: the exact E2M1
products, their exact sum per block of 32 (a signed 14-bit integer in units of 2^-2), each
block sum shifted arithmetically right into a window anchored at the output's largest block
exponent, with ``frac_bits`` bits below the anchor block's unit, and the shifted sums added
exactly. docs/mx_pe.md has the contract, the pipeline and the figures.

Who computes what. The anchor comes from the scales alone, so it is known before any data:
the source of the beats (host or a small unit beside the array) computes, per output,
``anchor = max_j (scale_a_j + scale_b_j)`` over the blocks whose scales are not NaN, a 9-bit
sum of E8M0 codes (E_max + 254), and sends it with every block. The PE computes each block's
shift ``anchor - (scale_a + scale_b)`` itself: in an array the scales are shared along a row
or column while the anchor is one constant per output, so neither a per-block nor a per-PE
shift has to travel. The result is ``acc * 2^(anchor - 256 - frac_bits)``; the exponent is not
an output.

Pipeline (one beat per clock; every stage moves when the output register is empty or read):

1. decode and multiply: E2M1 = mantissa {0..3} << {0, 1, 2}, so a product is a 2 x 2-bit
   multiply and a shift of 0..4, negated by the sign (signed 9 bits); the beat counter frames
   the block; ``anchor - (scale_a + scale_b)`` and the NaN test of the scales;
2. block sum: the exact 14-bit sum, handed on at the block's end (the next block starts from
   zero, no bubble); the shift clamped to 0..2^k - 1 >= frac_bits + 13 and the mask of the
   sum bits it loses;
3. the arithmetic right shift of ``sum << frac_bits`` and the sticky bit;
4. the low half of the window add, its carry registered;
5. the high half plus that carry; at a dot product's end the result goes to the output
   register. No carry chain is longer than half the accumulator.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_int_in_range
from golden.fp4 import E8M0_BIAS, E8M0_NAN
from golden.gemm_mx import BLOCK_SUM_BITS, FRAC_BITS, FRAC_BITS_MAX, mx_acc_width
from golden.mx import MXFP4_BLOCK
from hdl.params import check_positive_int

__all__ = ["MX_BEAT_LAYOUT", "mx_result_layout", "result_exponent", "check_k_max",
           "BlockWindowPE", "MxProcessingElement", "E2M1_PRODUCT_WIDTH", "ANCHOR_BIAS",
           "LATENCY"]

#: A signed E2M1 x E2M1 product in units of 2^-2: |a b| <= 12 * 12 = 144.
E2M1_PRODUCT_WIDTH = 9
#: ``anchor`` is E_max plus twice the E8M0 bias: the largest sum of the two scale codes.
ANCHOR_BIAS = 2 * E8M0_BIAS
#: Cycles from the handshake of a dot product's last beat to its result on ``o``.
LATENCY = 5

#: One beat of the input stream: an element pair, and the fields of the block it belongs to.
MX_BEAT_LAYOUT = data.StructLayout({
    "a": unsigned(4),           # E2M1 code of A's element
    "b": unsigned(4),           # E2M1 code of B's element
    "scale_a": unsigned(8),     # E8M0 code of A's block (read on the block's last beat)
    "scale_b": unsigned(8),     # E8M0 code of B's block (read on the block's last beat)
    "anchor": unsigned(9),      # max over the output's non-NaN blocks of scale_a + scale_b
    "block_last": unsigned(1),  # this beat is the 32nd of its block
    "last": unsigned(1),        # this beat ends the dot product (and its block)
})


def mx_result_layout(acc_width: int) -> data.StructLayout:
    """A finished dot product: ``acc * 2^(anchor - 256 - frac_bits)``, or NaN if ``nan``.

    ``inexact``: a set bit was shifted out of the window (the golden ``inexact``); ``nan``:
    a block's scale was 0xFF (``acc`` is then 0 and ``inexact`` clear, as in golden);
    ``malformed``: the stream broke the framing or anchor contract (docs/mx_pe.md says what
    the result is then).
    """
    return data.StructLayout({"acc": signed(acc_width), "inexact": 1, "nan": 1,
                              "malformed": 1})


def result_exponent(anchor: int, frac_bits: int = FRAC_BITS) -> int:
    """The exponent of a result's ``acc`` (value ``acc * 2^exp``): E_max - 2 - frac_bits, with
    E_max = anchor - :data:`ANCHOR_BIAS` and 2^-2 the unit of a product."""
    return anchor - ANCHOR_BIAS - 2 - frac_bits


def check_k_max(k_max, block: int = MXFP4_BLOCK) -> int:
    """``k_max`` as an int if it is a positive multiple of ``block`` (up to 2^30)."""
    k_max = check_positive_int("k_max", k_max)
    if k_max % block or k_max > 2 ** 30:
        raise ValueError(f"k_max must be a positive multiple of {block} up to 2^30, "
                         f"not {k_max}")
    return k_max


class BlockWindowPE(wiring.Component):
    """The pipeline of a block-scaled FP4 dot product in the window of docs/numerics.md §10.5,
    whatever the block scales: a subclass names the format in class attributes and says what
    the scales mean in :meth:`_scale_fields` and :meth:`_block_value` (MXFP4 here,
    :class:`hdl.nv_pe.NvProcessingElement`). Parameters and ports: :class:`MxProcessingElement`.
    """

    #: Elements per block, the beat layout, the block sum's and block value's signed widths,
    #: the width of ``anchor - exponent sum``, the latency, the largest frac_bits and the
    #: accumulator width of golden.
    BLOCK = MXFP4_BLOCK
    BEAT_LAYOUT = MX_BEAT_LAYOUT
    SUM_BITS = VALUE_BITS = BLOCK_SUM_BITS
    DIFF_BITS = 10
    PIPELINE_LATENCY = LATENCY
    FRAC_BITS_MAX = FRAC_BITS_MAX
    acc_width_of = staticmethod(mx_acc_width)

    def __init__(self, k_max: int = 4096, frac_bits: int = FRAC_BITS):
        self._k_max = check_k_max(k_max, self.BLOCK)
        self._frac_bits = check_int_in_range("frac_bits", frac_bits, 0, self.FRAC_BITS_MAX)
        self._acc_width = self.acc_width_of(self._k_max, self._frac_bits)
        super().__init__({
            "i": In(stream.Signature(self.BEAT_LAYOUT)),
            "o": Out(stream.Signature(mx_result_layout(self._acc_width))),
        })

    @property
    def k_max(self) -> int:
        return self._k_max

    @property
    def frac_bits(self) -> int:
        return self._frac_bits

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def LATENCY(self) -> int:
        return self.PIPELINE_LATENCY

    def _scale_fields(self, beat):
        """(NaN test, ``anchor`` minus the block's exponent sum) of a beat's scales: E8M0."""
        return ((beat.scale_a == E8M0_NAN) | (beat.scale_b == E8M0_NAN),
                beat.anchor - (beat.scale_a + beat.scale_b))

    def _block_value(self, m, advance, beat, stage_2):
        """The stage-2 signals (block sum, shift, loss mask, valid, last, bad, nan) as the
        window stages take them: for MXFP4 the block sum is the block value."""
        return stage_2

    def elaborate(self, platform):
        m = Module()
        f = self._frac_bits
        beat = self.i.payload
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        take = self.i.valid & advance

        # Stage 1: product, framing and the block's shift before clamping.
        count = Signal(range(self.BLOCK))
        blocks_max = self._k_max // self.BLOCK
        blocks = Signal(range(blocks_max + 1))
        full = count == self.BLOCK - 1
        ends = beat.block_last | beat.last | full
        misframed = ~(full & beat.block_last) | (blocks == blocks_max)
        with m.If(take):
            m.d.sync += count.eq(Mux(ends, 0, count + 1))
            with m.If(beat.last):
                m.d.sync += blocks.eq(0)
            with m.Elif(ends & (blocks != blocks_max)):
                m.d.sync += blocks.eq(blocks + 1)
        valid_1, ends_1, last_1, bad_1, nan_1 = (Signal(name=f"{n}_1") for n in
                                                 ("valid", "ends", "last", "bad", "nan"))
        product_1 = Signal(signed(E2M1_PRODUCT_WIDTH))
        # anchor - (scale_a + scale_b) lies in -510..511 (MXFP4).
        diff_1 = Signal(signed(self.DIFF_BITS))
        nan, diff = self._scale_fields(beat)
        with m.If(advance):
            m.d.sync += [
                valid_1.eq(self.i.valid),
                ends_1.eq(ends),
                last_1.eq(beat.last),
                bad_1.eq(misframed),
                nan_1.eq(nan),
                product_1.eq(_e2m1_product(beat.a, beat.b)),
                diff_1.eq(diff),
            ]

        # Stage 2: the exact block sum, the clamped shift and which bits of the sum it loses.
        # Shifts from frac_bits + 13 on all give 0 or -1 (|value| < 2^13 for MXFP4), so any
        # clamp 2^k - 1 >= frac_bits + 13 is exact. Value bit j sits at window bit j + frac_bits.
        shift_max = 2 ** (f + self.VALUE_BITS - 1).bit_length() - 1
        block_sum = Signal(signed(self.SUM_BITS))
        total = Signal(signed(self.SUM_BITS))
        m.d.comb += total.eq(block_sum + product_1)
        valid_2, last_2, bad_2, nan_2 = (Signal(name=f"{n}_2") for n in
                                         ("valid", "last", "bad", "nan"))
        sum_2 = Signal(signed(self.SUM_BITS))
        shift_2 = Signal(range(shift_max + 1))
        loses_2 = Signal(self.VALUE_BITS)
        above = diff_1 < 0
        with m.If(advance):
            with m.If(valid_1):
                m.d.sync += block_sum.eq(Mux(ends_1, 0, total))
            m.d.sync += [
                valid_2.eq(valid_1 & ends_1),
                last_2.eq(last_1),
                # A block above the anchor (not NaN) enters at shift 0 and is flagged.
                bad_2.eq(bad_1 | (above & ~nan_1)),
                nan_2.eq(nan_1),
                sum_2.eq(total),
                shift_2.eq(Mux(above, 0, Mux(diff_1 > shift_max, shift_max, diff_1))),
                loses_2.eq(Cat(*(diff_1 > j + f for j in range(self.VALUE_BITS)))),
            ]
        sum_2, shift_2, loses_2, valid_2, last_2, bad_2, nan_2 = self._block_value(
            m, advance, beat, (sum_2, shift_2, loses_2, valid_2, last_2, bad_2, nan_2))

        # Stage 3: the arithmetic right shift of sum << frac_bits, and the sticky bit.
        wide = Cat(Const(0, f), sum_2).as_signed()
        shifted_3 = Signal(signed(len(wide)))
        lost_3, valid_3, last_3, bad_3, nan_3 = (Signal(name=f"{n}_3") for n in
                                                 ("lost", "valid", "last", "bad", "nan"))
        with m.If(advance):
            m.d.sync += [
                shifted_3.eq(wide >> shift_2),
                lost_3.eq((sum_2 & loses_2).any()),
                valid_3.eq(valid_2), last_3.eq(last_2), bad_3.eq(bad_2), nan_3.eq(nan_2),
            ]

        # Stages 4 and 5: the window add, split in two halves so that no carry chain is
        # longer than about half the accumulator: stage 4 adds the low half and registers its
        # carry, stage 5 adds the high half and the carry a cycle later. A dot product's end
        # goes to the output register and clears the accumulator and its flags.
        w, h = self._acc_width, (self._acc_width + 1) // 2
        acc_lo = Signal(h)
        entry = Signal(signed(w))
        lo = Signal(h + 1)
        m.d.comb += [entry.eq(shifted_3), lo.eq(acc_lo + entry[:h])]
        high_4 = Signal(signed(w - h))
        low_4 = Signal(h)
        carry_4, lost_4, valid_4, last_4, bad_4, nan_4 = (
            Signal(name=f"{n}_4") for n in ("carry", "lost", "valid", "last", "bad", "nan"))
        with m.If(advance):
            with m.If(valid_3):
                m.d.sync += acc_lo.eq(Mux(last_3, 0, lo[:h]))
            m.d.sync += [
                high_4.eq(entry[h:]), low_4.eq(lo[:h]), carry_4.eq(lo[h]),
                lost_4.eq(lost_3), valid_4.eq(valid_3), last_4.eq(last_3), bad_4.eq(bad_3),
                nan_4.eq(nan_3),
            ]

        acc_hi = Signal(signed(w - h))
        inexact, nan, bad = Signal(), Signal(), Signal()
        hi = Signal(signed(w - h))
        m.d.comb += hi.eq(acc_hi + high_4 + carry_4)
        any_nan = nan | nan_4
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(advance & valid_4):
            with m.If(last_4):
                m.d.sync += [
                    acc_hi.eq(0), inexact.eq(0), nan.eq(0), bad.eq(0),
                    self.o.valid.eq(1),
                    self.o.payload.inexact.eq((inexact | lost_4) & ~any_nan),
                    self.o.payload.nan.eq(any_nan),
                    self.o.payload.malformed.eq(bad | bad_4),
                ]
                with m.If(any_nan):
                    m.d.sync += self.o.payload.acc.eq(0)
                with m.Else():
                    m.d.sync += self.o.payload.acc.eq(Cat(low_4, hi))
            with m.Else():
                m.d.sync += [acc_hi.eq(hi), inexact.eq(inexact | lost_4),
                             nan.eq(any_nan), bad.eq(bad | bad_4)]
        return m


class MxProcessingElement(BlockWindowPE):
    """A five-stage MXFP4 dot-product unit, bit-exact with :func:`golden.gemm_mx.gemm_mxfp4`.

    Parameters
    ----------
    k_max : int
        Longest dot product, a positive multiple of 32: it sizes the accumulator,
        :func:`golden.gemm_mx.mx_acc_width` (k_max, frac_bits) bits (45 for the default 4096).
    frac_bits : int
        Window bits below the anchor block's unit, 0..:data:`golden.gemm_mx.FRAC_BITS_MAX`
        (default :data:`golden.gemm_mx.FRAC_BITS`, 24).

    Attributes
    ----------
    i : In(stream.Signature(:data:`MX_BEAT_LAYOUT`))
        Element pairs in K order. A block ends on the beat with ``block_last`` or ``last``,
        or on its 32nd beat whatever the flags say; its scales and anchor are read on that
        beat only. A well-formed dot product is whole blocks of 32 beats, ``block_last`` on
        every 32nd beat and nowhere else, at most ``k_max`` beats and an ``anchor`` of at
        least every non-NaN block's ``scale_a + scale_b``.
    o : Out(stream.Signature(:func:`mx_result_layout`))
        One result per dot product, from a register, held until taken; while it waits the
        whole pipeline and ``i`` stall (``i.ready`` is ``o.ready | ~o.valid``).
    LATENCY : int
        :data:`LATENCY`: the last beat's handshake in cycle t gives ``o.valid`` in cycle
        t + 5 (t + 5 + the cycles ``o`` was stalled meanwhile).
    """


def _e2m1_product(a, b):
    """Signed product of two E2M1 codes in units of 2^-2: each magnitude is a mantissa
    {0, 1, 2, 3} (``{e != 0, m}``) shifted left by max(e - 1, 0), so a 2 x 2-bit multiply
    and a shift of 0..4."""
    def split(code):
        e, mantissa = code[1:3], code[0]
        return Cat(mantissa, e.any()), Mux(e.any(), (e - 1)[:2], 0)

    (ma, sa), (mb, sb) = split(a), split(b)
    magnitude = (ma * mb) << (sa + sb)
    return Mux(a[3] ^ b[3], -magnitude, magnitude)
