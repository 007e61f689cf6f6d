"""Which simulators the cocotb tests run under (pytest parametrises ``simulator`` with it)."""

from __future__ import annotations

import os

from sim import toolchain


def simulators_under_test() -> list[str]:
    """``SIM=verilator|icarus`` selects one simulator; unset or ``all`` means every one present."""
    sim = os.environ.get("SIM", "all") or "all"
    if sim == "all":
        return toolchain.available_simulators()
    return [toolchain.selected_simulator()]
