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
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.params import check_positive_int

__all__ = ["AmaxTracker", "grad_scale_exp_of"]


def grad_scale_exp_of(m: Module, amax) -> Signal:
    """Combinational GradScale exponent of a 15-bit FP16 magnitude (0 for zero)."""
    e = amax[10:15]
    f = amax[0:10]
    power_of_two = (f & (f - 1))[:10] == 0
    bit_length = Signal(range(11))
    for b in range(10):
        with m.If(f[b]):
            m.d.comb += bit_length.eq(b + 1)
    g = Signal(signed(8))
    with m.If(amax == 0):
        m.d.comb += g.eq(0)
    with m.Elif(e != 0):
        m.d.comb += g.eq(Mux(f == 0, 21, 20) - e)
    with m.Else():
        m.d.comb += g.eq(Mux(power_of_two, 31, 30) - bit_length)
    return g


class AmaxTracker(wiring.Component):
    """Tracks max |x| over the FP16 beats of stream ``i`` since the last ``clear``.

    ``i`` is a tap: it is always ready (the tracker never stalls the stream it watches).
    ``clear`` starts a new tensor; a beat in the same cycle belongs to the new tensor.
    ``scale_exp`` is the exponent for the next iteration of the same layer, valid once the
    tensor's last beat has passed (it follows ``amax`` combinationally).

    Parameters
    ----------
    lanes : int
        FP16 elements per beat.
    """

    def __init__(self, lanes: int = 1):
        self._lanes = check_positive_int("lanes", lanes)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(16), lanes))),
            "clear": In(1),
            "amax": Out(15),
            "scale_exp": Out(signed(8)),
            "nonfinite": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        best = Mux(self.clear, 0, self.amax)
        seen_nonfinite = Mux(self.clear, 0, self.nonfinite)
        beat_nonfinite = 0
        for k in range(self._lanes):
            mag = self.i.payload[k][:15]
            finite = mag[10:15] != 31
            # A signal per lane: the Mux reads `best` twice, bare expressions would nest 2^N.
            running = Signal(15, name=f"max_{k}")
            m.d.comb += running.eq(Mux(self.i.valid & finite & (mag > best), mag, best))
            best = running
            beat_nonfinite = beat_nonfinite | ~finite
        m.d.sync += [
            self.amax.eq(best),
            self.nonfinite.eq(seen_nonfinite | (self.i.valid & beat_nonfinite)),
        ]
        m.d.comb += self.scale_exp.eq(grad_scale_exp_of(m, self.amax))
        return m
