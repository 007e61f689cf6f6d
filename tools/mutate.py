"""``make mutate``: run the gateware mutants of verif/mutants.py against the fast tests.

Each mutant is applied in a scratch copy of the repository (the working tree's files that git
does not ignore, or the files of ``--rev``), never in the working tree itself. Per mutant and
seed the runner starts pytest on the mutant's own test files first (``-x``: stop at the first
failure), then, if it survived, on the rest of the fast suite (``-m "not slow and not
synth"``), each under a timeout. It writes ``<out>/mutants.json`` and ``<out>/mutants.md``:
mutant, block, the test that killed it under each seed, and the seconds that took.

Usage: ``python -m tools.mutate --out build/reports [--seeds 1 2 3] [--only NAME|BLOCK ...]``.
Exit status 1 if a mutant not marked equivalent survived a seed or timed out, or a mutant
marked equivalent was killed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from verif.mutants import MUTANTS, Mutant  # noqa: E402

FAST = ["-m", "not slow and not synth"]
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def scratch_copy(rev: str | None) -> Path:
    """A temporary directory holding the repository's files: those of the working tree that
    git does not ignore (committed or not), or those of revision ``rev``."""
    root = Path(tempfile.mkdtemp(prefix="fourbit-mutate-"))
    if rev:
        archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO,
                                 capture_output=True)
        if archive.returncode:
            shutil.rmtree(root)
            raise SystemExit(f"mutate: --rev {rev!r} is not a revision of this repository: "
                             f"{archive.stderr.decode().strip()}")
        blob = archive.stdout
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(root, filter="data")
    else:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.split("\0")
        for name in filter(None, files):
            src = REPO / name
            if src.is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, root / name)
    (root / ".venv").symlink_to((REPO / ".venv").resolve())
    return root


def pytest(root: Path, args: list[str], seed: int, timeout: float) -> tuple[str, str, float]:
    """Run the fast tests ``args`` in ``root``: (status, first failing test, seconds)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
           "-rfE", "--seed", str(seed), *FAST, *args]
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    env.pop("JOBS", None)
    start = time.monotonic()
    # Its own process group, so a timeout or Ctrl-C also ends the simulator builds it started.
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            return "timeout", "", time.monotonic() - start
        raise
    seconds = time.monotonic() - start
    if proc.returncode == 0:
        return "survived", "", seconds
    failed = FAILED.search(out)
    if proc.returncode == 1 and failed:
        return "killed", failed.group(1), seconds
    tail = (out + err).strip().splitlines()[-5:]
    return "error", " / ".join(tail), seconds


#: (test node id, seed) -> whether the test passes without any mutant (checked on demand).
_BASELINE: dict[tuple[str, int], bool] = {}


def passes_unmutated(root: Path, path: Path, original: str, test: str, seed: int,
                     timeout: float) -> bool:
    """Whether ``test`` passes with ``path`` restored to ``original`` (then re-mutated)."""
    if (test, seed) not in _BASELINE:
        mutated = path.read_text()
        path.write_text(original)
        try:
            _BASELINE[test, seed] = pytest(root, [test], seed, timeout)[0] == "survived"
        finally:
            path.write_text(mutated)
    return _BASELINE[test, seed]


def run_stage(root, path, original, args, seed, timeout) -> tuple[str, str, float]:
    """Run ``args`` on the mutant; a test that also fails without it is no kill: deselect it
    and go on (its name is kept, so a broken suite shows in the report)."""
    broken, seconds = [], 0.0
    while True:
        status, test, more = pytest(root, [*args, *(f"--deselect={t}" for t in broken)], seed,
                                    timeout)
        seconds += more
        if status != "killed" or passes_unmutated(root, path, original, test, seed, timeout):
            if broken and status != "killed":
                test = "fails unmutated too: " + ", ".join(broken)
            return status, test, seconds
        broken.append(test)


def run_mutant(root: Path, mutant: Mutant, seed: int, *, timeout: float,
               rest: float | None) -> dict:
    """Apply ``mutant`` in ``root``, run its tests (then, with ``rest`` a timeout, the rest of
    the fast suite), restore the file. A kill counts only if the killing test passes
    without the mutant."""
    path = root / mutant.path
    original = path.read_text()
    if original.count(mutant.before) != 1:
        return {"seed": seed, "status": "stale", "killed_by": "", "seconds": 0.0}
    path.write_text(original.replace(mutant.before, mutant.after))
    try:
        own = [t for t in mutant.tests if (root / t).exists()]
        status, test, seconds = run_stage(root, path, original, own, seed, timeout)
        if status == "survived" and rest:
            ignore = [f"--ignore={t}" for t in own]
            status, test, more = run_stage(root, path, original, ["verif", *ignore], seed,
                                           rest)
            seconds += more
    finally:
        path.write_text(original)
    return {"seed": seed, "status": status, "killed_by": test, "seconds": round(seconds, 1)}


def select(names: list[str]) -> list[Mutant]:
    if not names:
        return list(MUTANTS)
    chosen = [m for m in MUTANTS if m.name in names or m.block in names]
    unknown = set(names) - {m.name for m in chosen} - {m.block for m in chosen}
    if unknown:
        raise SystemExit(f"mutate: --only names no mutant or block: {sorted(unknown)}")
    return chosen


def markdown(report: dict) -> str:
    lines = [f"# Mutants ({report['source']}, seeds {report['seeds']})", "",
             "| mutant | block | killed by | seconds |", "|---|---|---|---|"]
    for entry in report["mutants"]:
        runs = entry["runs"]
        if entry["equivalent"] and all(r["status"] == "survived" for r in runs):
            killed = f"survived, equivalent: {entry['equivalent']}"
        else:
            by = {}
            for run in runs:
                key = run["status"].upper() + (f" ({run['killed_by']})" if run["killed_by"]
                                               else "")
                if run["status"] == "killed":
                    key = run["killed_by"]
                by.setdefault(key, []).append(str(run["seed"]))
            killed = "; ".join(f"`{k}`" + ("" if len(v) == len(runs) else f" (seed {','.join(v)})")
                               for k, v in by.items())
        seconds = max((r["seconds"] for r in runs), default=0.0)
        lines.append(f"| `{entry['name']}` | {entry['block']} | {killed} | {seconds:.1f} |")
    s = report["summary"]
    lines += ["", f"{s['killed']} of {s['mutants']} mutants killed under every seed, "
                  f"{s['equivalent']} marked equivalent, {s['open']} open; slowest kill "
                  f"{s['slowest_kill']:.1f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--only", nargs="*", default=[], help="mutant names or block names")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds for a mutant's own test files")
    ap.add_argument("--rest-timeout", type=float, default=1800.0,
                    help="seconds for the rest of the fast suite (a survivor only)")
    ap.add_argument("--rev", help="git revision whose tests and sources to use (default: "
                                  "the working tree)")
    ap.add_argument("--no-rest", action="store_true",
                    help="only each mutant's own tests, not the rest of the fast suite")
    args = ap.parse_args(argv)
    if any(s < 1 for s in args.seeds):
        ap.error(f"--seeds must be positive integers, not {args.seeds}")
    if args.timeout <= 0 or args.rest_timeout <= 0:
        ap.error(f"--timeout and --rest-timeout must be positive, not {args.timeout} and "
                 f"{args.rest_timeout}")
    mutants = select(args.only)
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: the running pytest is killed and
    # the scratch copy removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = scratch_copy(args.rev)
    entries = []
    try:
        for mutant in mutants:
            runs = []
            for seed in args.seeds:
                rest = None if args.no_rest or mutant.equivalent else args.rest_timeout
                run = run_mutant(root, mutant, seed, timeout=args.timeout, rest=rest)
                runs.append(run)
                print(f"mutate: {mutant.name} seed {seed}: {run['status']} "
                      f"{run['killed_by']} ({run['seconds']} s)", flush=True)
            entries.append({"name": mutant.name, "block": mutant.block, "path": mutant.path,
                            "what": mutant.what, "equivalent": mutant.equivalent, "runs": runs})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    killed = [e for e in entries if not e["equivalent"]
              and all(r["status"] == "killed" for r in e["runs"])]
    # An "equivalent" mutant that a test kills is a wrong claim: reported like a survivor.
    open_ = [e for e in entries if e not in killed and not (
        e["equivalent"] and all(r["status"] == "survived" for r in e["runs"]))]
    kills = [r["seconds"] for e in killed for r in e["runs"]]
    report = {
        "source": args.rev or "working tree", "seeds": args.seeds, "mutants": entries,
        "summary": {"mutants": len(entries), "killed": len(killed),
                    "equivalent": sum(bool(e["equivalent"]) for e in entries),
                    "open": len(open_), "slowest_kill": max(kills, default=0.0)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mutants.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "mutants.md").write_text(markdown(report))
    print(markdown(report))
    for e in open_:
        why = "marked equivalent but killed" if e["equivalent"] else "not killed"
        print(f"mutate: {why}: {e['name']}: {e['what']}", file=sys.stderr)
    return 1 if open_ else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("mutate: interrupted; no report written", file=sys.stderr)
        sys.exit(130)
