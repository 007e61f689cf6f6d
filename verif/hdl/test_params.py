"""Elaboration-time parameter checks: the shared helper and ``make verilog``'s front end."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hdl import gen
from hdl.params import check_positive_int


def test_positive_int_accepts_numpy_integers_and_returns_python_ints():
    for good in (1, 8, np.int64(4), np.uint8(3)):
        value = check_positive_int("rows", good)
        assert value == good and type(value) is int


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "4", None, np.float64(4.0)])
def test_positive_int_rejects(bad):
    with pytest.raises(TypeError, match=re.escape(f"rows must be a positive integer, not {bad!r}")):
        check_positive_int("rows", bad)


@pytest.mark.parametrize("argv,message", [
    (["--rows", "0"], "verilog: rows must be a positive integer, not 0"),
    (["--cols", "-2"], "verilog: cols must be a positive integer, not -2"),
    (["--acc-width", "17"], "verilog: acc_width must be in 18..48, not 17"),
])
def test_make_verilog_refuses_bad_parameters_before_writing(tmp_path, capsys, argv, message):
    assert gen.main(["--out", str(tmp_path / "v"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_make_verilog_writes_one_design(tmp_path):
    argv = ["--out", str(tmp_path), "--rows", "2", "--cols", "3", "array_{rows}x{cols}"]
    assert gen.main(argv) == 0
    text = (tmp_path / "array_2x3.v").read_text()
    assert "module array_2x3" in text
