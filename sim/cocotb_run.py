"""Build generated Verilog and run a cocotb module on it, the same way for every simulator.

Each (design, parameter set, simulator) gets its own build directory under
``build/sim/<name>/<simulator>`` so runs in parallel (pytest-xdist) never share one.
Waveforms (``WAVES=1``) need a traced build, so those runs build in
``build/sim/<name>/<simulator>-waves`` and write their FST there (Verilator: ``dump.fst``, or
``dump.vcd`` when the lz4 library FST needs is missing; Icarus: ``<toplevel>.fst``); the two
builds never overwrite each other, so switching ``WAVES`` never runs a stale model.

A failed simulator build raises with the path of its log (``build.log`` in the build
directory) and leaves a ``BUILD_FAILED`` marker; the next run of the same build directory
deletes the directory first, so it rebuilds from scratch instead of on a half-built model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

from cocotb_tools.runner import get_runner

from sim import toolchain
from sim.verilog import write_verilog

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "sim"
#: Left in a build directory whose simulator build failed.
FAILED_MARKER = "BUILD_FAILED"


def run_cocotb(component, *, name: str, test_module: str, simulator: str,
               env: Mapping[str, object] | None = None, testcase: str | None = None,
               waves: bool | None = None, seed: int | None = None) -> Path:
    """Emit ``component`` as Verilog module ``name`` and run cocotb ``test_module`` on it.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design under test; its signature becomes the module's ports.
    name : str
        Verilog module name and build-directory name: must be unique per parameter set.
    test_module : str
        Dotted name of the cocotb test module (importable from the repository root).
    simulator : {"verilator", "icarus"}
    env : mapping, optional
        Extra environment for the test (parameters, seeds, vector files); values are str()-ed.
    waves : bool, optional
        Dump an FST waveform; default from ``WAVES=1``.
    seed : int, optional
        cocotb's random seed; the testbench logs it.

    Returns
    -------
    Path
        The results XML; the runner raises if any cocotb test failed.
    """
    if simulator not in toolchain.SIMULATORS:
        raise ValueError(f"simulator must be one of {toolchain.SIMULATORS}, not {simulator!r}")
    toolchain.configure()
    waves = toolchain.waves_requested() if waves is None else waves
    build_dir = BUILD / name / (f"{simulator}-waves" if waves else simulator)
    if (build_dir / FAILED_MARKER).exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    vfile = write_verilog(component, name, build_dir / f"{name}.v")

    runner = get_runner(simulator)
    build_args = list(toolchain.VERILATOR_BUILD_ARGS) if simulator == "verilator" else []
    if simulator == "verilator" and waves:
        build_args += toolchain.verilator_waves_args(build_dir)
    log = build_dir / "build.log"
    try:
        runner.build(sources=[vfile], hdl_toplevel=name, build_dir=build_dir,
                     timescale=("1ns", "1ps"), build_args=build_args, waves=waves,
                     log_file=log)
    except RuntimeError as exc:
        (build_dir / FAILED_MARKER).write_text(f"{exc}\n")
        raise RuntimeError(f"{simulator} build of {name} failed ({exc}); the log is {log}; "
                           f"the next run rebuilds {build_dir} from scratch") from None
    extra_env = {k: str(v) for k, v in (env or {}).items()}
    extra_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    results = runner.test(hdl_toplevel=name, test_module=test_module, build_dir=build_dir,
                          test_dir=build_dir, waves=waves, extra_env=extra_env,
                          testcase=testcase, seed=seed, timescale=("1ns", "1ps"),
                          results_xml=str(build_dir / "results.xml"))
    _raise_on_failures(results)
    return results


def _raise_on_failures(results_xml: Path) -> None:
    """cocotb's runner returns normally even when tests failed: turn failures into an error."""
    from cocotb_tools.runner import get_results

    total, failed = get_results(results_xml)
    if total == 0:
        raise AssertionError(f"no cocotb test ran ({results_xml})")
    if failed:
        raise AssertionError(f"{failed} of {total} cocotb tests failed; see {results_xml}")
