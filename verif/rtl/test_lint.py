"""``make lint`` in the fast suite: every registry design, as ``make verilog`` writes it, passes
``verilator --lint-only -Wall`` with only the waivers sim/lint.py documents."""

from __future__ import annotations

import pytest

from hdl import gen
from sim import lint


@pytest.mark.parametrize("name", list(gen.DESIGNS))
def test_design_lints_clean(name, tmp_path, capsys):
    assert gen.main(["--out", str(tmp_path), name]) == 0
    status = lint.main([str(tmp_path)])
    assert status == 0, capsys.readouterr().err[-3000:]
