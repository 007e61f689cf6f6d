"""Pause generators: one bool per cycle saying whether a stream driver pauses in that cycle.

The cocotbext-axi pattern: a source or sink takes an iterator of bools
(``set_pause_generator``) and draws one value per cycle; ``True`` leaves a source idle (no new
beat is offered; a beat already offered stays valid until accepted) and withholds ``ready`` at a
sink. Any iterator works, e.g. ``itertools.cycle([0, 0, 1])`` for a fixed pattern; ``None``
means never pause.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def random_pauses(rnd: random.Random, probability: float) -> Iterator[bool] | None:
    """Pause with ``probability`` in each cycle, drawing from ``rnd``; ``None`` if it is 0."""
    if not 0 <= probability < 1:
        raise ValueError(f"probability must be in [0, 1), not {probability!r}")
    if probability == 0:
        return None
    return (rnd.random() < probability for _ in iter(int, 1))


def paused(generator: Iterator[bool] | None) -> bool:
    """The generator's value for this cycle (``False`` for ``None``)."""
    return generator is not None and bool(next(generator))
