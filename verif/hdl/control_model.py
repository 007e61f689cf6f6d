"""Cycle model of the gradient unit's documented control rules, built on golden.formats.

The components' docstrings and docs/gradient_unit.md state what a control input does in the
cycle of a beat; this model applies exactly those sentences, one clock edge at a time, so a
test can drive controls at random cycles (with a beat, just after one, while idle) and compare
every output cycle by cycle:

* configuration (``phase``, ``scale_exp``, ``stochastic``) is sampled with each accepted beat;
* the generator advances by ``lanes`` draws per beat accepted in stochastic mode;
  ``seed_load`` wins over that advance, and a beat accepted in the load cycle still uses the
  old state;
* ``sat_count`` adds the saturated elements of every accepted beat; ``sat_clear`` zeroes the
  old count, and a saturating beat in the same cycle counts towards the new total;
* ``amax`` is the max |x| of the finite elements of the accepted beats since ``amax_clear``
  (a beat in the clear cycle belongs to the new tensor); NaN/Inf raise the sticky
  ``nonfinite`` instead, which ``amax_clear`` also restarts.
"""

from __future__ import annotations

import numpy as np

from golden.formats import DEFAULT_SEED, grad_scale_exp, r4_quantize, xorshift32_stream


class GradientControlModel:
    """State of a gradient unit (``lanes`` elements per beat) after each clock edge."""

    def __init__(self, lanes: int):
        self.lanes = lanes
        self.state = DEFAULT_SEED
        self.sat_count = 0
        self.amax = 0
        self.nonfinite = 0

    @property
    def next_scale_exp(self) -> int:
        """The tracker's exponent of the current ``amax`` (0 for an all-zero tensor)."""
        return grad_scale_exp(np.array([self.amax], np.uint16).view(np.float16))

    def quantize(self, beat, *, phase: int, scale_exp: int, stochastic: int):
        """golden's R4Result of one beat (``lanes`` FP16 patterns) from the current state."""
        x = np.array(beat, dtype=np.uint16).view(np.float16)
        if stochastic:
            return r4_quantize(x, phase=phase, scale_exp=scale_exp, rounding="stochastic",
                               seed=self.state, flags=True)
        return r4_quantize(x, phase=phase, scale_exp=scale_exp, flags=True)

    def clock(self, *, beat=None, result=None, stochastic: int = 0, seed_load: int = 0,
              seed: int = 0, sat_clear: int = 0, amax_clear: int = 0) -> None:
        """One clock edge: ``beat`` (and its ``result``) if one was accepted in this cycle."""
        fired = beat is not None
        sat_count = 0 if sat_clear else self.sat_count
        amax = 0 if amax_clear else self.amax
        nonfinite = 0 if amax_clear else self.nonfinite
        if fired:
            sat_count += int(result.saturated.sum())
            mags = np.array(beat, dtype=np.uint16) & 0x7FFF
            finite = mags < 0x7C00
            amax = max([amax, *mags[finite].tolist()])
            nonfinite |= int(not finite.all())
        if seed_load:
            self.state = seed
        elif fired and stochastic:
            self.state = int(xorshift32_stream(self.state, self.lanes)[-1])
        self.sat_count = sat_count % 2 ** 32
        self.amax, self.nonfinite = amax, nonfinite
