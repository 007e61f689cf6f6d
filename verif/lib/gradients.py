"""Host side of the gradient-unit testbenches: golden's quantizer over a shared random stream,
and the packing of ``i_grad`` / ``o_codes`` payloads (offsets from the hdl layouts)."""

from __future__ import annotations

import numpy as np

from golden.formats import DEFAULT_SEED, r4_quantize, xorshift32_stream
from hdl.gradient_unit import codes_out_layout, grad_in_layout
from hdl.r4_quantizer import R4_OUT_LAYOUT
from verif.lib.payload import field, pack_array, unpack_array


class GoldenQuantizer:
    """golden r4_quantize over consecutive blocks that share the hardware's random stream.

    The lane draws one number per element it quantizes stochastically, so a stochastic block
    continues the stream where the previous one stopped; ``seed_load`` restarts it. Nearest
    blocks draw nothing.
    """

    def __init__(self, seed: int = DEFAULT_SEED):
        self.load(seed)

    def load(self, seed: int) -> None:
        """Mirror a ``seed_load`` pulse."""
        self._seed, self._drawn = seed, 0

    def quantize(self, x: np.ndarray, *, phase: int, scale_exp: int, stochastic: bool):
        """The golden ``R4Result`` for block ``x``, advancing the stream if stochastic."""
        if not stochastic:
            return r4_quantize(x, phase=phase, scale_exp=scale_exp, flags=True)
        start = (int(xorshift32_stream(self._seed, self._drawn)[-1]) if self._drawn
                 else self._seed)
        self._drawn += x.size
        return r4_quantize(x, phase=phase, scale_exp=scale_exp, rounding="stochastic",
                           seed=start, flags=True)


def pack_beats(x: np.ndarray, lanes: int) -> list[int]:
    """(beats * lanes,) uint16 -> one i_grad payload int per beat, element k in lane k."""
    bits = grad_in_layout(lanes).size // lanes
    return [pack_array(row, bits) for row in x.reshape(-1, lanes).tolist()]


def unpack_codes(payloads: list[int], lanes: int):
    """o_codes payload ints -> [code, invalid, saturated] per element, and phase per beat."""
    layout = codes_out_layout(lanes)
    per_lane = unpack_array(payloads, layout, "lanes").reshape(-1)
    phase = field(np.array(payloads, dtype=object), layout, "phase").astype(np.int64)
    return ([field(per_lane, R4_OUT_LAYOUT, name) for name in ("code", "invalid", "saturated")],
            phase)
