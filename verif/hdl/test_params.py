"""Elaboration-time parameter checks: the shared helper and ``make verilog``'s front end."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hdl import gen, registry
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
    for name, design in gen.DESIGNS.items():
        stem = gen.file_stem(name, **base)
        for param in base:
            other = gen.file_stem(name, **(base | {param: base[param] + 1}))
            assert (other != stem) == (param in design.kwargs.values()), (name, param)
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


def test_every_name_parses_back_to_its_entry_and_parameters():
    """Names are built and parsed in one place (hdl.registry): every instance name and file
    stem of every entry parses back to that entry with the parameters it shows."""
    params = {"rows": 3, "cols": 5, "acc_width": 24}
    for design in registry.DESIGNS.values():
        for name in (design.instance_name(**params), design.file_stem(**params)):
            entry, shown = registry.parse(name)
            assert entry is design, name
            assert shown == {p: params[p] for p in shown}, name
        entry, shown = registry.parse(design.file_stem(**params))
        assert set(shown) == set(design.params), design.name
    assert registry.parse("array_8x8") == (registry.DESIGNS["array_{rows}x{cols}"],
                                           {"rows": 8, "cols": 8})
    assert registry.parse("training_units_8x8")[0].name == "training_units_{rows}x{cols}"
    with pytest.raises(ValueError, match="no design name"):
        registry.parse("array_8")


def test_registry_lists_every_flow_and_refuses_bad_parameters():
    assert "backward_tile_{rows}x{cols}" in registry.DESIGNS
    assert [d.name for d in registry.designs("bench")] == ["array_{rows}x{cols}"]
    assert "training_units_{rows}x{cols}" in [d.name for d in registry.designs("synth")]
    with pytest.raises(TypeError, match="rows must be a positive integer, not 0"):
        registry.build("array_{rows}x{cols}", rows=0)
    with pytest.raises(TypeError, match="unknown parameters"):
        registry.file_stem("pe", width=3)
    with pytest.raises(KeyError, match="unknown design 'nope'"):
        registry.get("nope")


def test_units_of_a_composed_design_are_registry_entries_of_its_parameters():
    for design in registry.DESIGNS.values():
        for unit, entry in design.units.items():
            assert set(registry.get(entry).params) <= set(design.params), (design.name, unit)
    assert set(registry.get("training_units_{rows}x{cols}").units) == {
        "array", "gradient_unit", "readout"}
