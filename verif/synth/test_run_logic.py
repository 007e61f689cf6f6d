"""The decisions of synth/ that need no tools: failure classification, the largest-array
search and the ratios. Fast (no Yosys, no nextpnr), so it runs in ``make test``."""

import json
from pathlib import Path

import pytest

from hdl import registry
from synth import cache, flow, run, search
from synth import report as report_mod

OVER = """Info: Device utilisation:
Info: \t         ICESTORM_LC:   10123/   7680   131%
Info: \t               SB_IO:       5/    206     2%
"""
UNDER = OVER.replace("10123", " 7000").replace("131%", " 91%")


def test_only_utilisation_failures_count_as_not_fitting():
    assert flow._does_not_fit(OVER)
    assert flow._does_not_fit(UNDER + "ERROR: Unable to place cell 'x', no BELs remaining to "
                                     "implement cell type 'ICESTORM_LC'\n")
    assert flow._does_not_fit("ERROR: Unable to find legal placement for all cells, design is "
                             "probably at utilisation limit.\n")
    assert not flow._does_not_fit(UNDER)
    assert not flow._does_not_fit("")
    assert flow._log_utilization(OVER)["ICESTORM_LC"] == {"available": 7680, "used": 10123}


def test_killed_nextpnr_raises_and_is_not_a_misfit(tmp_path):
    with pytest.raises(RuntimeError, match="exit -9"):
        flow._place({}, tmp_path, "x", "ice40",
                   ["sh", "-c", "echo 'Info: packing' > nextpnr.log; kill -9 $$"], print)


def _search(monkeypatch, largest_fitting: int, measured: dict, cells_per_pe=280):
    """Run the search against a fake device on which arrays up to ``largest_fitting`` fit."""
    placed = []

    def fake_measure(vname, component, family, **kw):
        side = int(vname.split("x")[1])
        placed.append(side)
        return {"luts": 200 * side * side, "fits": side <= largest_fitting}

    monkeypatch.setattr(search, "measure", fake_measure)
    monkeypatch.setattr(search, "array", lambda side: (f"array_{side}x{side}", None))
    results = {f"array_{n}x{n}": {"ice40": {
        "luts": 200 * n * n, "fits": n <= largest_fitting,
        "utilization": {"ICESTORM_LC": {"available": 7680, "used": cells_per_pe * n * n}}}}
        for n in measured}
    return search.largest_array(results, "ice40", lambda s: None), placed


def test_largest_array_found_and_checked_one_size_up(monkeypatch):
    # 7680 / 280 cells per PE: estimate 5x5; 5x5 fits, 6x6 is tried and does not.
    assert _search(monkeypatch, 5, (2, 4)) == ("array_5x5", [5, 6])


def test_largest_array_steps_down_until_one_fits(monkeypatch):
    # The estimate (5x5) is three sizes too optimistic (the old search stopped after two).
    assert _search(monkeypatch, 2, (1, 3), cells_per_pe=280) == ("array_2x2", [5, 4, 2])


def test_no_array_fits_is_reported_as_none(monkeypatch):
    assert _search(monkeypatch, 0, (2, 4)) == (None, [5, 3, 1])


def test_cache_entries_are_written_atomically(tmp_path, monkeypatch):
    entry = tmp_path / "cache" / "pe-ice40-0123.json"
    cache.write_atomic(entry, '{"old": 1}')

    def killed(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(cache.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.write_atomic(entry, '{"new": 2}')
    assert entry.read_text() == '{"old": 1}'
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


@pytest.mark.parametrize("text", ['{"luts": 1', "", "[1, 2]", '{"luts": 1, "ff": 2}',
                                  "\x00\xff"])
def test_a_corrupt_cache_entry_is_discarded(tmp_path, text):
    entry = tmp_path / "pe-ice40-0123.json"
    entry.write_text(text, errors="surrogateescape")
    said = []
    assert cache.read_cache(entry, said.append) is None
    assert not entry.exists() and "discarding the corrupt cache entry" in said[0]
    good = {"luts": 1, "ff": 2, "carry": 0, "fits": None, "fmax_mhz": None}
    cache.write_atomic(entry, json.dumps(good))
    assert cache.read_cache(entry, said.append) == good
    assert cache.read_cache(tmp_path / "missing.json", said.append) is None and len(said) == 1


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_out_must_be_a_folder_before_any_synthesis(tmp_path, capsys, where):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        run.main(["--out", str(tmp_path / where)])
    assert "argument --out" in capsys.readouterr().err


def test_composed_top_steps_down_then_goes_to_the_larger_part(monkeypatch):
    """The composed top is placed from the largest array's size down until one fits, and at
    8x8 on the larger ECP5 when the 25k part only takes a smaller one; units are kept apart."""
    placed, units = [], []

    def fake_measure(vname, component, family, place=True, **kw):
        if not place:  # a unit's area
            units.append((vname, family))
            return {"luts": 1, "carry": 0, "ff": 2, "fits": None}
        side = registry.parse(vname)[1]["rows"]
        placed.append((side, family))
        return {"luts": 300 * side * side, "fits": family == "ecp5_45k" or side <= 7}

    monkeypatch.setattr(search, "measure", fake_measure)
    monkeypatch.setattr(run, "measure", fake_measure)
    monkeypatch.setattr(registry.Design, "build", lambda self, **params: None)
    monkeypatch.setattr(registry, "build", lambda name, **params: (name, None))
    results = {}
    where = run._composed(results, "ecp5", 9, lambda s: None)
    assert where == {"training_units_{rows}x{cols}": {"ecp5": "training_units_7x7",
                                                      "ecp5_45k": "training_units_8x8"}}
    assert placed == [(9, "ecp5"), (8, "ecp5"), (7, "ecp5"), (8, "ecp5_45k")]
    # Each unit of what is reported, on its own, area only, on the default part's flow.
    assert units == [(n, "ecp5") for n in ("array_7x7_acc32", "gradient_unit_lanes7",
                                           "readout_lanes_7_acc32", "array_8x8_acc32",
                                           "gradient_unit_lanes8", "readout_lanes_8_acc32")]
    assert results["training_units_7x7"]["ecp5"]["largest_fit"]
    assert results["training_units_8x8"]["ecp5_45k"]["units"]["readout"] == {
        "design": "readout_lanes_8_acc32", "luts": 1, "carry": 0, "ff": 2}
    # A part that takes 8x8 needs no larger one; a family without a larger part gets none.
    monkeypatch.setattr(search, "measure", lambda v, c, f, **kw: {"fits": True})
    monkeypatch.setattr(registry, "build", lambda name, **params: (name, None))
    assert run._composed({}, "ecp5", 8, lambda s: None) == {
        "training_units_{rows}x{cols}": {"ecp5": "training_units_8x8"}}
    assert run._composed({}, "ice40", 3, lambda s: None) == {
        "training_units_{rows}x{cols}": {"ice40": "training_units_3x3"}}


def test_report_shows_unit_shares_and_critical_paths():
    unit = {"luts": 50, "carry": 0, "ff": 25}
    entry = {"luts": 100, "ff": 50, "carry": 0, "fits": True, "fmax_mhz": 99.5,
             "units": {"array": unit, "gradient_unit": unit},
             "critical_path": {"from": "array.a", "to": "array.b", "logic_levels": 3,
                               "delay_ns": 10.0}}
    report = {"designs": {"training_units_2x2": {"ecp5": entry}},
              "composed": {"training_units_{rows}x{cols}": {"ecp5": "training_units_2x2"}}}
    text = "\n".join(report_mod.composed_lines(report) + report_mod.critical_lines(report))
    assert "| `training_units_2x2` | 100 | 50 | 99.5 | 50 (50%) / 25 (50%) |" in text
    assert "`array.a` -> `array.b`, 3 logic levels, 10.0 ns" in text


def test_a_yosys_failure_on_the_composed_top_is_a_warning_not_a_crash(monkeypatch):
    import subprocess

    def failing(vname, component, family, place=True, **kw):
        if place or vname.startswith("readout"):
            raise subprocess.CalledProcessError(1, ["yosys", "-p", "read_verilog x.v; synth"])
        return {"luts": 1, "carry": 0, "ff": 2}

    monkeypatch.setattr(search, "measure", failing)
    monkeypatch.setattr(run, "measure", failing)
    monkeypatch.setattr(registry.Design, "build", lambda self, **params: None)
    monkeypatch.setattr(registry, "build", lambda name, **params: (name, None))
    warnings = []
    assert run._composed({}, "ecp5", 8, lambda s: None, warnings) == {
        "training_units_{rows}x{cols}": {"ecp5": None}}
    assert "Yosys failed" in warnings[0]
    # A unit that fails alone leaves the composed figures and the other units.
    units = run._unit_areas(registry.get("training_units_{rows}x{cols}"),
                            "training_units_3x3", "ice40", lambda s: None)
    assert units["readout"]["luts"] is None and units["array"]["luts"] == 1


#: The tail of Yosys 0.70's log when ABC9 asserts on a kept hierarchy.
ASSERT_LOG = ("ERROR: Assert `GetSize(conn.first) == GetSize(conn.second)' failed in "
              "kernel/rtlil.cc:2490.\n")


@pytest.mark.parametrize("log_text", ["ERROR: Can't open input file `x.v' for reading\n",
                                      None])
def test_any_other_yosys_failure_raises_without_a_flat_run(tmp_path, monkeypatch, log_text):
    """Only the internal assertion falls back: a script error, a killed Yosys (no log) or
    anything else raises, and nothing is cached."""
    import subprocess
    vname, component = registry.build("pe")
    scripts = []

    def yosys(cmd, cwd, **kw):
        scripts.append(cmd)
        if log_text is not None:
            (Path(cwd) / "yosys.log").write_text(log_text)
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(flow, "WORK", tmp_path / "work")
    monkeypatch.setattr(flow, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(flow.subprocess, "run", yosys)
    with pytest.raises(subprocess.CalledProcessError):
        flow.measure(vname, component, "ice40", place=False, log=lambda s: None)
    assert len(scripts) == 1 and not list((tmp_path / "cache").glob("*.json"))


def test_a_yosys_assertion_with_hierarchy_kept_falls_back_to_the_flat_netlist(
        tmp_path, monkeypatch):
    """Yosys 0.70's ABC9 assertion on a kept hierarchy: the area comes from the flat run,
    flagged ``with wrapper`` with the wrapper's bits, and the report marks it."""
    import subprocess
    vname, component = registry.build("pe")
    scripts = []

    def yosys(cmd, cwd, **kw):
        script = cmd[cmd.index("-p") + 1]
        scripts.append(script)
        (Path(cwd) / "yosys.log").write_text(ASSERT_LOG)
        if "keep_hierarchy" in script:
            raise subprocess.CalledProcessError(134, cmd)
        stat = {"modules": {f"\\{vname}": {"num_cells_by_type": {
            "SB_LUT4": 120, "SB_CARRY": 10, "SB_DFF": 90}}}}
        (Path(cwd) / "stat.json").write_text(json.dumps(stat))

    monkeypatch.setattr(flow, "WORK", tmp_path / "work")
    monkeypatch.setattr(flow, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(flow.subprocess, "run", yosys)
    packed = []
    monkeypatch.setattr(flow, "_pack_design",
                        lambda work, v, fam, whole=False: packed.append(whole) or 150)
    got = flow.measure(vname, component, "ice40", place=False, log=lambda s: None)
    assert len(scripts) == 2 and "keep_hierarchy" not in scripts[1]
    assert (got["luts"], got["ff"], got["scope"]) == (120, 90, "with wrapper")
    assert packed == [True]
    bits = got["wrapper_bits"]
    assert bits["in"] > 8 and bits["out"] > 8
    assert (tmp_path / "work" / "ice40" / vname / "yosys-hierarchy.log").exists()
    # The next run finds the flat entry in the cache without running Yosys again.
    assert flow.measure(vname, component, "ice40", place=False, log=lambda s: None) == got
    assert len(scripts) == 2
    report = {"designs": {vname: {"ice40": dict(got, fmax_mhz=None, fits=None)}},
              "ratios": {}, "semantics": {}}
    assert f"| {vname} | 120 †" in report_mod.markdown(report, ["ice40"])


def test_equal_throughput_is_luts_times_period_per_mac():
    """MAC PEs at one MAC per clock, every placed array at R x C; a design that does not fit,
    has no Fmax or is no MAC unit is left out; the table compares each with the 4-bit PE."""
    def r(luts, fmax, fits=True):
        return {"luts": luts, "ff": 1, "fmax_mhz": fmax, "fits": fits}
    results = {"pe": {"ice40": r(159, 117.1)}, "fp16_fma_pe": {"ice40": r(1151, 18.8)},
               "pe_int4": {"ice40": r(104, 117.1)},
               "fp16_fma_pe_pipelined": {"ice40": r(1500, 80.0)},
               "readout": {"ice40": r(385, 124.5)}, "array_4x4": {"ice40": r(3289, 123.8)},
               "array_2x2": {"ice40": r(816, 124.3)},
               "array_6x6": {"ice40": r(7436, None, fits=False)},
               "mxfp4_array_4x4": {"ice40": r(8000, 100.0)}}
    table = report_mod.equal_throughput(results, ["ice40"])["ice40"]
    assert set(table) == {"pe", "fp16_fma_pe", "pe_int4", "fp16_fma_pe_pipelined",
                          "array_2x2", "array_4x4", "mxfp4_array_4x4"}
    # The interleaved FP16 PE takes one MAC per clock like the others (its slots are dot
    # products in flight, not MACs per clock).
    assert table["fp16_fma_pe_pipelined"]["macs_per_clock"] == 1
    assert table["mxfp4_array_4x4"]["macs_per_clock"] == 16
    assert table["pe"]["lut_ns_per_mac"] == round(159 * 1000 / 117.1, 1) == 1357.8
    assert table["array_4x4"]["macs_per_clock"] == 16
    assert table["array_4x4"]["lut_ns_per_mac"] == round(3289 * 1000 / 123.8 / 16, 1)
    lines = report_mod.throughput_lines({"equal_throughput": {"ice40": table}})
    fp16 = next(line for line in lines if line.startswith("| fp16_fma_pe |"))
    assert fp16.endswith(f"| {1151 * 1000 / 18.8 / (159 * 1000 / 117.1):.2f}x |")
