"""The NVFP4 processing element: one dot product in the window of docs/numerics.md §10.7.

One PE computes one output of :func:`golden.gemm_nv.gemm_nvfp4` bit for bit (the FP32 tensor
scales are the host's): the exact E2M1 products, their exact sum per block of 16 (a signed
13-bit integer in units of 2^-2), times the exact product of the block's two E4M3 scale
significands (a signed 9-bit integer, |Ma Mb| <= 225) into a signed 20-bit block value, shifted
arithmetically right into the window anchored at the output's largest block exponent, with
``frac_bits`` bits below the anchor block's unit, and added exactly. It is the MXFP4 PE's
pipeline (:class:`hdl.mx_pe.BlockWindowPE`) with other scales and one more stage, the scale
product; docs/nv_pe.md has the contract and the figures.

The anchor is the MXFP4 PE's, over E4M3 exponent fields: the source of the beats computes per
output ``anchor = max_j (max(ea_j, 1) + max(eb_j, 1))`` over the blocks whose scales are not
NaN (2..30, 5 bits), the PE each block's shift ``anchor - (max(ea, 1) + max(eb, 1))``. The
result is ``acc * 2^(anchor - 22 - frac_bits)`` (:func:`nv_result_exponent`), times the two
tensor scales.

Pipeline (one beat per clock, every stage moves when the output register is empty or read):
stages 1 and 2 are the MXFP4 PE's (E4M3 exponent fields and NaN test in stage 1, A's scale
significand signed by both scales' signs in stage 2); two new stages multiply the block sum
by the significands, 2b by A's (13 x 5 bits signed), 2c by B's (17 x 4 bits): one 13 x 9-bit
multiply in one stage was the critical path (95 MHz on iCE40); stages 3 to 5 are the MXFP4
PE's shift and window add.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Mux, Signal, signed, unsigned
from amaranth.lib import data

from golden.gemm_nv import (BLOCK_SUM_BITS, BLOCK_VALUE_BITS, FRAC_BITS, FRAC_BITS_MAX,
                            SCALE_EXP_BIAS, nv_acc_width)
from golden.mx import NVFP4_BLOCK
from hdl.mx_pe import LATENCY as MX_LATENCY
from hdl.mx_pe import BlockWindowPE

__all__ = ["NV_BEAT_LAYOUT", "NvProcessingElement", "nv_result_exponent", "LATENCY"]

#: Cycles from the handshake of a dot product's last beat to its result on ``o``: the MXFP4
#: PE's five and the two stages of the scale product.
LATENCY = MX_LATENCY + 2

#: One beat of the input stream: an element pair, and the fields of the block it belongs to.
NV_BEAT_LAYOUT = data.StructLayout({
    "a": unsigned(4),           # E2M1 code of A's element
    "b": unsigned(4),           # E2M1 code of B's element
    "scale_a": unsigned(8),     # E4M3 code of A's block (read on the block's last beat)
    "scale_b": unsigned(8),     # E4M3 code of B's block (read on the block's last beat)
    "anchor": unsigned(5),      # max over the non-NaN blocks of max(ea, 1) + max(eb, 1)
    "block_last": unsigned(1),  # this beat is the 16th of its block
    "last": unsigned(1),        # this beat ends the dot product (and its block)
})


def nv_result_exponent(anchor: int, frac_bits: int = FRAC_BITS) -> int:
    """The exponent of a result's ``acc`` (value ``acc * 2^exp``, before the tensor scales):
    E_max - 2 - frac_bits with E_max = anchor - 20."""
    return anchor - SCALE_EXP_BIAS - 2 - frac_bits


class NvProcessingElement(BlockWindowPE):
    """A seven-stage NVFP4 dot-product unit, bit-exact with :func:`golden.gemm_nv.gemm_nvfp4`.

    Parameters and ports are :class:`hdl.mx_pe.MxProcessingElement`'s with NVFP4 in place of
    MXFP4: ``k_max`` a positive multiple of 16 sizes the accumulator,
    :func:`golden.gemm_nv.nv_acc_width` (k_max, frac_bits) bits (56 for the default 4096);
    ``frac_bits`` is 0..33, default 28 (nothing is ever shifted out). ``i`` carries
    :data:`NV_BEAT_LAYOUT`: blocks of 16 beats, E4M3 scales and an anchor of at least every
    non-NaN block's ``max(ea, 1) + max(eb, 1)``; ``o`` one :func:`hdl.mx_pe.mx_result_layout`
    result per dot product, ``nan`` for a block scale 0x7F / 0xFF. ``LATENCY`` is 7.
    """

    BLOCK = NVFP4_BLOCK
    BEAT_LAYOUT = NV_BEAT_LAYOUT
    SUM_BITS, VALUE_BITS = BLOCK_SUM_BITS, BLOCK_VALUE_BITS
    # anchor (0..31) minus an exponent sum (2..30).
    DIFF_BITS = 6
    PIPELINE_LATENCY = LATENCY
    FRAC_BITS_MAX = FRAC_BITS_MAX
    acc_width_of = staticmethod(nv_acc_width)

    def __init__(self, k_max: int = 4096, frac_bits: int = FRAC_BITS):
        super().__init__(k_max, frac_bits)

    def _scale_fields(self, beat):
        (nan_a, exp_a, _), (nan_b, exp_b, _) = _e4m3(beat.scale_a), _e4m3(beat.scale_b)
        return nan_a | nan_b, beat.anchor - (exp_a + exp_b)

    def _block_value(self, m, advance, beat, stage_2):
        # The scale significands, read on the block's last beat as the block sum is: A's
        # signed by both scales' signs in stage 2, B's as it is.
        (_, _, sig_a), (_, _, sig_b) = _e4m3(beat.scale_a), _e4m3(beat.scale_b)
        neg_1 = Signal(name="neg_1")
        sig_a_1, sig_b_1 = Signal(4, name="sig_a_1"), Signal(4, name="sig_b_1")
        sig_a_2, sig_b_2 = Signal(signed(5), name="sig_a_2"), Signal(4, name="sig_b_2")
        # Stage 2b: the block sum times A's significand, |P Ma| <= 2304 * 15 < 2^16; stage 2c:
        # times B's, the exact block value |P Ma Mb| <= 518400 < 2^19. The rest waits.
        sum_2, *rest = stage_2
        partial_2b = Signal(signed(BLOCK_SUM_BITS + 4), name="partial_2b")
        sig_b_2b = Signal(4, name="sig_b_2b")
        value_2c = Signal(signed(BLOCK_VALUE_BITS))
        rest_2b = _delayed(m, advance, rest, "2b")
        rest_2c = _delayed(m, advance, rest_2b, "2c")
        with m.If(advance):
            m.d.sync += [
                neg_1.eq(beat.scale_a[7] ^ beat.scale_b[7]), sig_a_1.eq(sig_a), sig_b_1.eq(sig_b),
                sig_a_2.eq(Mux(neg_1, -sig_a_1, sig_a_1)), sig_b_2.eq(sig_b_1),
                partial_2b.eq(sum_2 * sig_a_2), sig_b_2b.eq(sig_b_2),
                value_2c.eq(partial_2b * sig_b_2b),
            ]
        return (value_2c, *rest_2c)


def _delayed(m, advance, signals, stage: str) -> list:
    """Copies of ``signals`` (named ``<name>_<n>``) one stage later, named ``<name>_<stage>``."""
    out = [Signal.like(s, name=f"{s.name.rsplit('_', 1)[0]}_{stage}") for s in signals]
    with m.If(advance):
        m.d.sync += [d.eq(s) for d, s in zip(out, signals)]
    return out


def _e4m3(code):
    """(NaN test, max(e, 1), 4-bit significand) of an E4M3 code: its magnitude is
    significand * 2^(max(e, 1) - 10), the significand {e != 0, m}."""
    e, normal = code[3:7], code[3:7].any()
    return code[:7] == 0x7F, Mux(normal, e, 1), Cat(code[:3], normal)
