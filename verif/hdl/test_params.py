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
    text = (tmp_path / "array_2x3_acc32.v").read_text()
    assert "module array_2x3_acc32" in text


def test_file_names_carry_every_shaping_parameter():
    """Each factory argument of an entry shows in its file name, so two parameter sets never
    share a file: the stems of all entries under two settings of each parameter differ
    exactly where the entry uses that parameter."""
    base = {"rows": 2, "cols": 3, "acc_width": 24}
    for name, (_, _, kwargs) in gen.DESIGNS.items():
        stem = gen.file_stem(name, **base)
        for param in base:
            other = gen.file_stem(name, **(base | {param: base[param] + 1}))
            assert (other != stem) == (param in kwargs.values()), (name, param)
    assert gen.file_stem("pe", acc_width=24) == "pe_acc24"
    assert gen.file_stem("gradient_unit", cols=3) == "gradient_unit_lanes3"
    assert gen.file_stem("fp16_fma_pe", rows=9, cols=9, acc_width=40) == "fp16_fma_pe"


def test_second_run_with_other_parameters_never_mixes(tmp_path):
    for acc in ("24", "32"):
        assert gen.main(["--out", str(tmp_path), "--acc-width", acc, "readout"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readout_acc24.v", "readout_acc32.v"]
    assert "module readout_acc24" in (tmp_path / "readout_acc24.v").read_text()


def test_make_verilog_refuses_an_array_beyond_the_limit_at_once(tmp_path, capsys):
    argv = ["--out", str(tmp_path / "v"), "--rows", "1000", "--cols", "1000"]
    assert gen.main(argv) == 2
    err = capsys.readouterr().err
    assert f"limit of {gen.MAX_ARRAY_PES}" in err and "1000000 processing elements" in err
    assert not (tmp_path / "v").exists()
    # The limit is on the array: fixed designs are still written at any --rows.
    assert gen.main(["--out", str(tmp_path / "v"), "--rows", "1000", "r4_quantizer"]) == 0


def test_concrete_array_name_says_how_to_size_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        gen.main(["--out", str(tmp_path), "array_4x4"])
    assert "pass 'array_{rows}x{cols}' with --rows and --cols" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_out_must_be_a_folder(tmp_path, capsys, where):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        gen.main(["--out", str(tmp_path / where), "pe"])
    assert "argument --out" in capsys.readouterr().err
