"""Cycle model of the gradient unit's documented control rules, built on golden.formats.

The components' docstrings and docs/gradient_unit.md state what a control input does in the
cycle of a beat; this model applies exactly those sentences, one clock edge at a time, so a
test can drive controls at random cycles (with a beat, just after one, while idle) and compare
every output cycle by cycle:

* configuration (``phase``, ``scale_exp``, ``stochastic``) is sampled with each accepted beat;
* the generator advances by ``lanes`` draws per beat accepted in stochastic mode;
  ``seed_load`` wins over that advance, and a beat accepted in the load cycle still uses the
  old state;
* ``sat_count`` adds the saturated elements of every beat accepted since the last
  ``sat_clear`` (a saturating beat in the clear cycle counts towards the new total), each
  shown from the second cycle after the beat is delivered
  (:meth:`GradientControlModel.clock` ``delivered``); ``sat_clear`` zeroes the count at once;
* ``amax`` is the max |x| of the finite elements of the accepted beats since ``amax_clear``
  (a beat in the clear cycle belongs to the new tensor); NaN/Inf raise the sticky
  ``nonfinite`` instead, which ``amax_clear`` also restarts; the outputs show the state
  ``amax_latency`` cycles after a beat or clear (1 for an unpipelined tracker).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from golden.formats import DEFAULT_SEED, grad_scale_exp, r4_quantize, xorshift32_stream


class GradientControlModel:
    """State of a gradient unit (``lanes`` elements per beat) after each clock edge."""

    def __init__(self, lanes: int, amax_latency: int = 1):
        self.lanes = lanes
        self.state = DEFAULT_SEED
        self.sat_count = 0
        self._epoch = 0
        self._pending = 0                                      # counted in the next cycle
        self._in_flight: deque[tuple[int, int]] = deque()     # (saturated, epoch) per beat
        self._amax = deque([(0, 0)] * amax_latency, maxlen=amax_latency)

    @property
    def amax(self) -> int:
        """The amax output: the state ``amax_latency`` - 1 clock edges ago."""
        return self._amax[0][0]

    @property
    def nonfinite(self) -> int:
        return self._amax[0][1]

    @property
    def next_scale_exp(self) -> int:
        """The tracker's exponent of the shown ``amax`` (0 for an all-zero tensor)."""
        return grad_scale_exp(np.array([self.amax], np.uint16).view(np.float16))

    def quantize(self, beat, *, phase: int, scale_exp: int, stochastic: int):
        """golden's R4Result of one beat (``lanes`` FP16 patterns) from the current state."""
        x = np.array(beat, dtype=np.uint16).view(np.float16)
        if stochastic:
            return r4_quantize(x, phase=phase, scale_exp=scale_exp, rounding="stochastic",
                               seed=self.state, flags=True)
        return r4_quantize(x, phase=phase, scale_exp=scale_exp, flags=True)

    def clock(self, *, beat=None, result=None, delivered: bool = False, stochastic: int = 0,
              seed_load: int = 0, seed: int = 0, sat_clear: int = 0,
              amax_clear: int = 0) -> None:
        """One clock edge: ``beat`` (and its ``result``) if one was accepted in this cycle,
        ``delivered`` if the oldest beat in flight left on the output in this cycle."""
        fired = beat is not None
        sat_count = self.sat_count
        if sat_clear:
            sat_count, self._epoch = 0, self._epoch + 1
        else:
            sat_count += self._pending
        self._pending = 0
        if delivered:
            saturated, epoch = self._in_flight.popleft()
            if epoch == self._epoch:
                self._pending = saturated
        amax, nonfinite = self._amax[-1]
        if amax_clear:
            amax, nonfinite = 0, 0
        if fired:
            self._in_flight.append((int(result.saturated.sum()), self._epoch))
            mags = np.array(beat, dtype=np.uint16) & 0x7FFF
            finite = mags < 0x7C00
            amax = max([amax, *mags[finite].tolist()])
            nonfinite |= int(not finite.all())
        if seed_load:
            self.state = seed
        elif fired and stochastic:
            self.state = int(xorshift32_stream(self.state, self.lanes)[-1])
        self.sat_count = sat_count % 2 ** 32
        self._amax.append((amax, nonfinite))
