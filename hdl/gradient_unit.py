"""The gradient unit: N R4 quantizer lanes side by side, one shared generator, an amax tracker.

The array takes one row of C operand-B codes per clock, so the unit quantizes C FP16
gradients per clock: ``lanes`` copies of the lane datapath in one pipeline
(:class:`hdl.r4_quantizer.R4Pipeline`). Stochastic rounding stays bit-identical to golden on the
flattened stream: the generator is unrolled ``lanes`` steps deep, lane k of beat b takes draw
number ``b * lanes + k`` (row-major order, as ``golden.formats.r4_quantize`` consumes draws).

The amax tracker watches the accepted beats, so the GradScale exponent for the next
iteration of the layer (delayed mode) is ready when the tensor has passed. The unit does not
keep per-layer state: the host reads ``next_scale_exp`` after a layer's gradient and drives
it on ``scale_exp`` when the same layer comes round again.
"""

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl import controls
from hdl.amax import AmaxTracker, amax_latency
from hdl.params import check_positive_int
from hdl.r4_quantizer import R4_OUT_LAYOUT, STEPS, R4Pipeline, count_saturated
from hdl.xorshift import Xorshift32

__all__ = ["GradientUnit", "grad_in_layout", "codes_out_layout"]


def grad_in_layout(lanes: int) -> data.ArrayLayout:
    """Payload of ``i_grad``: ``lanes`` FP16 bit patterns, element k of the beat in lane k."""
    return data.ArrayLayout(unsigned(16), lanes)


def codes_out_layout(lanes: int) -> data.StructLayout:
    """Payload of ``o_codes``: per lane code and flags, and the phase the codes were made in.

    The phase travels with the codes because the array needs it to interpret them (the
    shift amount of an R4 code depends on it), and it may change from beat to beat.
    """
    return data.StructLayout({
        "lanes": data.ArrayLayout(R4_OUT_LAYOUT, lanes),
        "phase": unsigned(1),
    })


class GradientUnit(wiring.Component):
    """FP16 gradients in, R4 codes out, ``lanes`` elements per clock.

    Configuration (``phase``, ``scale_exp``, ``stochastic``) is sampled with each accepted
    beat; the generator advances by ``lanes`` draws for each beat accepted in stochastic mode
    and holds otherwise (reset value golden.formats.DEFAULT_SEED; ``seed_load`` loads
    ``seed``, non-zero; a beat accepted in the load cycle still uses the old state).
    ``sat_count`` adds the saturated elements of every beat accepted since reset or the last
    ``sat_clear`` (a beat in the clear cycle counts towards the new total), each when the
    beat leaves on ``o_codes`` (:func:`hdl.r4_quantizer.count_saturated`). ``amax``,
    ``next_scale_exp`` and ``nonfinite`` are the amax tracker's (see
    :class:`hdl.amax.AmaxTracker`), restarted by ``amax_clear``; they include a beat
    ``AMAX_LATENCY`` cycles after it was accepted.

    Timing: :class:`hdl.r4_quantizer.R4Pipeline`, a beat accepted in cycle t is on
    ``o_codes`` from cycle t + ``LATENCY`` (6) if ``o_codes`` is ready meanwhile;
    ``i_grad.ready`` is ``o_codes.ready | ~o_codes.valid``.

    Parameters
    ----------
    lanes : int
        Elements per beat: the array's column count keeps the array's B operand fed.
    """

    def __init__(self, lanes: int = 4):
        self._lanes = lanes = check_positive_int("lanes", lanes)
        super().__init__({
            "i_grad": In(stream.Signature(grad_in_layout(lanes))),
            "o_codes": Out(stream.Signature(codes_out_layout(lanes))),
            **controls.members(),     # every control and status port (hdl.controls)
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def LATENCY(self) -> int:
        """Cycles from a beat's handshake on ``i_grad`` to its first cycle on ``o_codes``."""
        return len(STEPS)

    @property
    def AMAX_LATENCY(self) -> int:
        """Cycles from a beat's handshake (or an ``amax_clear``) to the first cycle ``amax``,
        ``next_scale_exp`` and ``nonfinite`` include it: :class:`hdl.amax.AmaxTracker`'s."""
        return amax_latency(self._lanes)

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        m.submodules.rng = rng = Xorshift32(steps=n)
        m.submodules.amax = amax = AmaxTracker(n)
        m.submodules.quantize = quantize = R4Pipeline(n)

        fire = self.i_grad.valid & self.i_grad.ready
        m.d.comb += [
            quantize.i.valid.eq(self.i_grad.valid),
            self.i_grad.ready.eq(quantize.i.ready),
            quantize.i.payload.x.eq(self.i_grad.payload),
            quantize.i.payload.draw.eq(rng.draws),
            quantize.i.payload.phase.eq(self.phase),
            quantize.i.payload.scale_exp.eq(self.scale_exp),
            quantize.i.payload.stochastic.eq(self.stochastic),
            rng.advance.eq(fire & self.stochastic),
            rng.seed.eq(self.seed),
            rng.seed_load.eq(self.seed_load),
            amax.i.valid.eq(fire),
            amax.i.payload.eq(self.i_grad.payload),
            amax.clear.eq(self.amax_clear),
            self.amax.eq(amax.amax),
            self.next_scale_exp.eq(amax.scale_exp),
            self.nonfinite.eq(amax.nonfinite),
            self.o_codes.valid.eq(quantize.o.valid),
            quantize.o.ready.eq(self.o_codes.ready),
            self.o_codes.payload.lanes.eq(quantize.o.payload.lanes),
            self.o_codes.payload.phase.eq(quantize.o.payload.phase),
        ]
        count_saturated(m, sat_count=self.sat_count, sat_clear=self.sat_clear, accepted=fire,
                        delivered=self.o_codes.valid & self.o_codes.ready,
                        saturated=quantize.o.payload.saturated, latency=quantize.LATENCY)
        return m
