"""``make lint`` in the fast suite: every registry design, as ``make verilog`` writes it, passes
``verilator --lint-only -Wall`` with only the waivers sim/lint.py documents."""

from __future__ import annotations

import pytest

from hdl import gen, registry
from sim import lint, toolchain


@pytest.mark.parametrize("name", [d.name for d in registry.designs("verilog")])
def test_design_lints_clean(name, tmp_path):
    assert gen.main(["--out", str(tmp_path), name]) == 0
    toolchain.configure()
    (path,) = tmp_path.glob("*.v")
    proc = lint.lint(path)
    assert proc.returncode == 0, proc.stderr[-3000:]
