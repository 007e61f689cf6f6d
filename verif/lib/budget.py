"""Cycle budgets for testbench loops, so that a DUT which loses a beat fails instead of hanging.

Every loop that waits for the DUT (a result, a ``ready``, a drained tile) counts its cycles
against a budget derived from the work it is given, and raises :func:`timeout` when the budget
runs out, with what was expected, what arrived and the cycle count. The budget is generous --
a correct DUT never gets near it -- but bounded by a small multiple of the normal run time, so
a mutant that drops one beat fails within seconds (cocotb) or a few times the test's usual
time (Amaranth simulator) rather than running until an outside timeout.
"""

from __future__ import annotations

#: Added to every budget: short runs have relatively large random spread, and pipelines fill.
SLACK = 1000


def cycle_budget(beats: int, *, idle: float = 0.0, stall: float = 0.0, latency: int = 0) -> int:
    """Cycles within which a working DUT surely moves ``beats`` beats through a stream.

    Parameters
    ----------
    beats : int
        Beats to move: the larger of the input beats and output beats of the run (or their
        sum, when inputs and outputs cannot overlap).
    idle : float
        Probability that the testbench leaves an input idle in a cycle.
    stall : float
        Probability that the testbench withholds ``ready`` from an output in a cycle.
    latency : int
        Cycles the DUT itself needs beyond one per beat (pipeline depth, a drain per tile).

    Notes
    -----
    A beat is offered with probability ``1 - idle`` and taken with ``1 - stall`` per cycle:
    on average it costs ``1 / (1 - idle) + 1 / (1 - stall)`` cycles if the two waits never
    overlap, ``1 / ((1 - idle) * (1 - stall))`` if both must happen in the same cycle; the
    budget takes the larger. Twice that is far beyond the spread of a long run (a sum of many
    geometric waits concentrates at its mean); :data:`SLACK` covers the spread of short runs
    (a beat waiting 1000 cycles has probability ``0.51 ** 1000`` at idle = stall = 0.3).
    """
    if not 0 <= idle < 1 or not 0 <= stall < 1:
        raise ValueError(f"idle and stall must be in [0, 1), not {idle!r} and {stall!r}")
    offered, taken = 1 - idle, 1 - stall
    per_beat = max(1 / offered + 1 / taken, 1 / (offered * taken))
    return int(2 * beats * per_beat) + 2 * latency + SLACK


def timeout(cycles: int, where: str, **progress: tuple[int, int]) -> AssertionError:
    """The error to raise when a loop has used its ``cycles`` budget.

    ``progress`` maps what was counted to ``(arrived, expected)``, e.g.
    ``timeout(5000, "o_c", results=(7, 8), a_beats=(40, 40))``.
    """
    counts = ", ".join(f"{name} {got}/{total}" for name, (got, total) in progress.items())
    return AssertionError(f"{where}: no finish within the budget of {cycles} cycles "
                          f"(arrived/expected: {counts}); the DUT lost or withheld a beat")
