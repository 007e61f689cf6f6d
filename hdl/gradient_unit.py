"""The gradient unit: N R4 quantizer lanes side by side, one shared generator, an amax tracker.

The array takes one row of C operand-B codes per clock, so the unit quantizes C FP16
gradients per clock: ``lanes`` copies of the lane datapath (:class:`hdl.r4_quantizer.R4Quantize`)
behind one stream register. Stochastic rounding stays bit-identical to golden on the
flattened stream: the generator is unrolled ``lanes`` steps deep, lane k of beat b takes draw
number ``b * lanes + k`` (row-major order, as ``golden.formats.r4_quantize`` consumes draws).

The amax tracker watches the accepted beats, so the GradScale exponent for the next
iteration of the layer (delayed mode) is ready when the tensor has passed. The unit does not
keep per-layer state: the host reads ``next_scale_exp`` after a layer's gradient and drives
it on ``scale_exp`` when the same layer comes round again.
"""

from amaranth.hdl import Module, Mux, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.amax import AmaxTracker
from hdl.params import check_positive_int
from hdl.r4_quantizer import R4_OUT_LAYOUT, SAT_COUNT_BITS, R4Quantize
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
    """FP16 gradients in, R4 codes out, ``lanes`` elements per clock, latency 1.

    Configuration (``phase``, ``scale_exp``, ``stochastic``) is sampled with each accepted
    beat; the generator advances by ``lanes`` draws for each beat accepted in stochastic mode
    and holds otherwise (reset value golden.formats.DEFAULT_SEED; ``seed_load`` loads
    ``seed``, non-zero). ``sat_count`` adds the saturated elements of every accepted beat
    (``sat_clear`` zeroes it). ``amax``, ``next_scale_exp`` and ``nonfinite`` are the amax
    tracker's (see :class:`hdl.amax.AmaxTracker`), restarted by ``amax_clear``.

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
            "phase": In(1),
            "scale_exp": In(signed(8)),
            "stochastic": In(1),
            "seed": In(32),
            "seed_load": In(1),
            "sat_count": Out(SAT_COUNT_BITS),
            "sat_clear": In(1),
            "amax_clear": In(1),
            "amax": Out(15),
            "next_scale_exp": Out(signed(8)),
            "nonfinite": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        m.submodules.rng = rng = Xorshift32(steps=n)
        m.submodules.amax = amax = AmaxTracker(n)

        fire = self.i_grad.valid & self.i_grad.ready
        m.d.comb += [
            self.i_grad.ready.eq(~self.o_codes.valid | self.o_codes.ready),
            rng.advance.eq(fire & self.stochastic),
            rng.seed.eq(self.seed),
            rng.seed_load.eq(self.seed_load),
            amax.i.valid.eq(fire),
            amax.i.payload.eq(self.i_grad.payload),
            amax.clear.eq(self.amax_clear),
            self.amax.eq(amax.amax),
            self.next_scale_exp.eq(amax.scale_exp),
            self.nonfinite.eq(amax.nonfinite),
        ]

        saturated = 0
        for k in range(n):
            lane = R4Quantize()
            m.submodules[f"lane_{k}"] = lane
            m.d.comb += [
                lane.x.eq(self.i_grad.payload[k]),
                lane.phase.eq(self.phase),
                lane.scale_exp.eq(self.scale_exp),
                lane.stochastic.eq(self.stochastic),
                lane.draw.eq(rng.draws[k]),
            ]
            with m.If(fire):
                m.d.sync += self.o_codes.payload.lanes[k].eq(lane.result)
            saturated = saturated + lane.result.saturated

        with m.If(fire):
            m.d.sync += [self.o_codes.payload.phase.eq(self.phase), self.o_codes.valid.eq(1)]
        with m.Elif(self.o_codes.ready):
            m.d.sync += self.o_codes.valid.eq(0)

        counted = Mux(self.sat_clear, 0, self.sat_count)
        m.d.sync += self.sat_count.eq(counted + Mux(fire, saturated, 0))
        return m
