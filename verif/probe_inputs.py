"""Bad-input probe: a catalogue of wrong inputs thrown at the Python API, the CLIs and the make
targets, each outcome classified.

    PYTHONPATH=. .venv/bin/python -m verif.probe_inputs            # this checkout
    python -m verif.probe_inputs --repo DIR --list                 # another checkout, per case

Classes: ``clear`` (an error that names the argument), ``correct`` (a valid edge input that
gives the right result), ``confusing`` (an error that does not name the argument, or an
error for a valid input), ``silent`` (accepted, or a wrong result) and ``hang`` (no answer
within the time limit). Every API case runs in a forked child under a time and memory limit;
CLI and make cases run as subprocesses with the same limits. Exit status 1 if any case is not
``clear`` or ``correct``. The catalogue and its method are described in docs/training.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

CLASSES = ("clear", "correct", "confusing", "silent", "hang")
TIMEOUT_S = 30
MEMORY_LIMIT = 4 << 30


class Case(NamedTuple):
    """One probe: ``run`` raises or returns; ``names`` is the word a clear error must contain
    (None: the input is valid and ``check(result)`` must hold)."""

    group: str
    label: str
    run: Callable
    names: str | None
    check: Callable | None = None


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


# --------------------------------------------------------------------------- API catalogue


def _ctx():
    from golden.backend import TableBackend
    from nn import StepContext
    return StepContext(TableBackend())


def _rng():
    import numpy as np
    return np.random.default_rng(0)


def _linear(precision="fp32"):
    from nn import Linear
    return Linear("fc", 4, 3, precision=precision, rng=_rng())


def _conv():
    from nn import Conv2d
    return Conv2d("conv", 1, 2, precision="fp32", rng=_rng())


def _sgd_after_backward():
    import numpy as np
    from nn import Sgd
    layer, ctx = _linear(), _ctx()
    y = layer.forward(np.ones((2, 4), np.float32), ctx)
    layer.backward(np.ones_like(y), ctx)
    return Sgd([layer], lr=0.1)


def _sgd_step(*args, **kwargs):
    return _sgd_after_backward().step(*args, **kwargs)


def _sgd_before_backward():
    from nn import Sgd
    return Sgd([_linear()], lr=0.1).step(2)


def _qact(codes, scale):
    import numpy as np
    from nn import QAct
    return QAct(np.asarray(codes) if isinstance(codes, list) else codes, scale)


def _tpr(seeds):
    import numpy as np
    from golden.backend import NumpyBackend
    return NumpyBackend().quantize_grad_tpr(np.ones(4, np.float16), scale_exp=0,
                                            rounding="stochastic", seeds=seeds)


def _tpr_table(seeds):
    import numpy as np
    from golden.backend import TableBackend
    return TableBackend().quantize_grad_tpr(np.ones(4, np.float16), scale_exp=0,
                                            rounding="stochastic", seeds=seeds)


def _long_double_tie():
    """1 + 2^-11 + 2^-60 lies above the FP16 tie between 1 and 1 + 2^-10: one RNE rounding gives
    1 + 2^-10; rounding through float64 first drops the 2^-60 and gives 1 (ties to even)."""
    import numpy as np
    x = np.longdouble(1) + np.longdouble(2) ** -11 + np.longdouble(2) ** -60
    if np.finfo(np.longdouble).nmant < 60:
        return "no extended long double here"
    from golden.formats import r4_quantize, to_fp16
    h = to_fp16(np.array([x]))
    r4_quantize(np.array([x]))                   # must not raise either
    return float(h[0])


def _train_run(**kw):
    from experiments.data import load_digits_split
    from experiments.train import train_run
    args = {"model": "mlp", "policy": "fp32", "seed": 1, "max_steps": 1} | kw
    return train_run(args.pop("model"), args.pop("policy"), args.pop("seed"),
                     data=load_digits_split(), **args)


def _waves(value):
    os.environ["WAVES"] = value
    from sim import toolchain
    return toolchain.waves_requested()


def _api_cases() -> list[Case]:
    import numpy as np
    from golden import formats as f
    from golden import layers as L
    from golden import quant as q
    from nn import QuantConfig, StepContext
    strings = np.array(["a", "b", "c", "d"])
    cases = [
        # --- the optimizer (issue item 4)
        Case("Sgd", "step(batch_size=0)", lambda: _sgd_step(0), "batch_size"),
        Case("Sgd", "step(batch_size=-2)", lambda: _sgd_step(-2), "batch_size"),
        Case("Sgd", "step(batch_size=1.5)", lambda: _sgd_step(1.5), "batch_size"),
        Case("Sgd", "step(batch_size='2')", lambda: _sgd_step("2"), "batch_size"),
        Case("Sgd", "step(batch_size=True)", lambda: _sgd_step(True), "batch_size"),
        Case("Sgd", "step(2, lr=-0.1)", lambda: _sgd_step(2, lr=-0.1), "lr"),
        Case("Sgd", "step(2, lr=nan)", lambda: _sgd_step(2, lr=float("nan")), "lr"),
        Case("Sgd", "step(2, lr=inf)", lambda: _sgd_step(2, lr=float("inf")), "lr"),
        Case("Sgd", "step(2, lr='0.1')", lambda: _sgd_step(2, lr="0.1"), "lr"),
        Case("Sgd", "step before any backward", _sgd_before_backward, "backward"),
        Case("Sgd", "Sgd(lr=-1)", lambda: L.Sgd([], lr=-1), "lr"),
        Case("Sgd", "Sgd(lr=nan)", lambda: L.Sgd([], lr=float("nan")), "lr"),
        Case("Sgd", "Sgd(momentum=1)", lambda: L.Sgd([], lr=0.1, momentum=1), "momentum"),
        Case("Sgd", "step(2, lr=0) (valid: a zero rate leaves weights)",
             lambda: _sgd_step(2, lr=0.0), None, lambda r: r is None),
        # --- QAct
        Case("QAct", "scale=-1", lambda: _qact(np.zeros(3, np.uint8), -1.0), "scale"),
        Case("QAct", "scale=nan", lambda: _qact(np.zeros(3, np.uint8), float("nan")), "scale"),
        Case("QAct", "scale=inf", lambda: _qact(np.zeros(3, np.uint8), float("inf")), "scale"),
        Case("QAct", "scale='1'", lambda: _qact(np.zeros(3, np.uint8), "1"), "scale"),
        Case("QAct", "codes='abc'", lambda: _qact("abc", 1.0), "codes"),
        Case("QAct", "codes 16", lambda: _qact(np.array([16]), 1.0), "codes"),
        Case("QAct", "codes float", lambda: _qact(np.array([0.5]), 1.0), "codes"),
        Case("QAct", "codes list of ints (valid)", lambda: _qact([1, 2], 0.5).dequant().tolist(),
             None, lambda r: r == [0.5, 1.0]),
        # --- random generator
        Case("xorshift", "xorshift32_step(0)", lambda: f.xorshift32_step(0), "state"),
        Case("xorshift", "xorshift32_step(-1)", lambda: f.xorshift32_step(-1), "state"),
        Case("xorshift", "xorshift32_step(2**32)", lambda: f.xorshift32_step(2 ** 32), "state"),
        Case("xorshift", "xorshift32_step(1.5)", lambda: f.xorshift32_step(1.5), "state"),
        Case("xorshift", "xorshift32_step('1')", lambda: f.xorshift32_step("1"), "state"),
        Case("xorshift", "xorshift32_step(1) (valid)", lambda: f.xorshift32_step(1), None,
             lambda r: r == 270369),
        Case("xorshift", "xorshift32_stream(1, -1)", lambda: f.xorshift32_stream(1, -1), "n"),
        Case("xorshift", "xorshift32_stream(1, 1.5)", lambda: f.xorshift32_stream(1, 1.5), "n"),
        Case("xorshift", "xorshift32_stream(1, '3')", lambda: f.xorshift32_stream(1, "3"), "n"),
        Case("xorshift", "xorshift32_stream(0, 3)", lambda: f.xorshift32_stream(0, 3), "seed"),
        Case("xorshift", "xorshift32_stream(1, 0) (valid)",
             lambda: f.xorshift32_stream(1, 0).size, None, lambda r: r == 0),
        # --- TPR seeds
        Case("TPR", "NumpyBackend seeds=(1,)", lambda: _tpr((1,)), "seeds"),
        Case("TPR", "NumpyBackend seeds=5", lambda: _tpr(5), "seeds"),
        Case("TPR", "NumpyBackend seeds=(1,2,3)", lambda: _tpr((1, 2, 3)), "seeds"),
        Case("TPR", "TableBackend seeds=(1,)", lambda: _tpr_table((1,)), "seeds"),
        Case("TPR", "TableBackend seeds=5", lambda: _tpr_table(5), "seeds"),
        Case("TPR", "TableBackend seeds=(1,2,3)", lambda: _tpr_table((1, 2, 3)), "seeds"),
        Case("TPR", "TableBackend seeds=(0,1)", lambda: _tpr_table((0, 1)), "seed"),
        # --- FP16 entry
        Case("FP16", "grad_scale_exp(float32 1e5)",
             lambda: f.grad_scale_exp(np.float32([1e5])), "65520"),
        Case("FP16", "grad_scale_exp(float16 inf)",
             lambda: f.grad_scale_exp(np.float16([np.inf])), "Inf"),
        Case("FP16", "grad_scale_exp([]) ", lambda: f.grad_scale_exp(np.float32([])), "non-empty"),
        Case("FP16", "r4_quantize(int array)", lambda: f.r4_quantize(np.array([1])), "dtype"),
        Case("FP16", "r4_quantize('abc')", lambda: f.r4_quantize("abc"), "floating"),
        Case("FP16", "long double rounded once (RNE)", _long_double_tie, None,
             lambda r: r == 1 + 2 ** -10 or r == "no extended long double here"),
        Case("FP16", "r4_quantize(phase=2)", lambda: f.r4_quantize(np.float16([1]), phase=2),
             "phase"),
        Case("FP16", "r4_quantize(scale_exp=200)",
             lambda: f.r4_quantize(np.float16([1]), scale_exp=200), "scale_exp"),
        Case("FP16", "r4_quantize(rounding='up')",
             lambda: f.r4_quantize(np.float16([1]), rounding="up"), "rounding"),
        Case("FP16", "int4_encode([8])", lambda: f.int4_encode([8]), "-8..7"),
        Case("FP16", "check_codes([1.5])", lambda: f.check_codes([1.5]), "codes"),
        # --- host quantizers and layers with strings or lists
        Case("layers", "FP32 Linear.forward('abc')",
             lambda: _linear().forward("abcd", _ctx()), "fc input"),
        Case("layers", "FP32 Linear.forward(strings)",
             lambda: _linear().forward(strings.reshape(1, 4), _ctx()), "fc input"),
        Case("layers", "FP32 Linear.forward(list) (valid)",
             lambda: _linear().forward([[0.0] * 4], _ctx()).shape, None,
             lambda r: r == (1, 3)),
        Case("layers", "FP32 Linear.forward(1-D)",
             lambda: _linear().forward(np.zeros(4, np.float32), _ctx()), "input shape"),
        Case("layers", "q4 Linear.forward(float array)",
             lambda: _linear("q4").forward(np.zeros((1, 4), np.float32), _ctx()), "input"),
        Case("layers", "pixel_quantize('abc')", lambda: q.pixel_quantize("abc"), "pixel input"),
        Case("layers", "pixel_quantize(['0.5'])", lambda: q.pixel_quantize(["0.5"]), "pixel input"),
        Case("layers", "pixel_quantize([1.5])", lambda: q.pixel_quantize([1.5]), "[0, 1]"),
        Case("layers", "pixel_quantize([0.5]) list (valid)",
             lambda: q.pixel_quantize([0.5]).tolist(), None, lambda r: r == [8]),
        Case("layers", "pact_quantize('abc', 4)", lambda: q.pact_quantize("abc", 4.0), "PACT input"),
        Case("layers", "pact_quantize([[1,'a']], 4)",
             lambda: q.pact_quantize([[1, "a"]], 4.0), "PACT input"),
        Case("layers", "pact_quantize(x, alpha=-1)",
             lambda: q.pact_quantize([1.0], -1.0), "alpha"),
        Case("layers", "pact_quantize(x, alpha='a')",
             lambda: q.pact_quantize([1.0], "a"), "alpha"),
        Case("layers", "Conv2d.forward('abc')", lambda: _conv().forward("abc", _ctx()), "conv input"),
        Case("layers", "Conv2d.forward(list)",
             lambda: _conv().forward([[[[0.0] * 4] * 4]], _ctx()).shape, None,
             lambda r: r == (1, 2, 4, 4)),
        Case("layers", "Conv2d.forward(strings 4-D)",
             lambda: _conv().forward(strings.reshape(1, 1, 2, 2), _ctx()), "conv input"),
        Case("layers", "Pact(alpha=-1)", lambda: L.Pact("a", alpha=-1), "alpha"),
        Case("layers", "Linear(n_in=0)",
             lambda: L.Linear("fc", 0, 3, precision="fp32", rng=_rng()), "n_in"),
        Case("layers", "Linear(precision='q8')",
             lambda: L.Linear("fc", 1, 3, precision="q8", rng=_rng()), "precision"),
        Case("layers", "softmax_xent(labels=-1)",
             lambda: L.softmax_xent(np.zeros((1, 3), np.float32), np.array([-1])), "labels"),
        # --- context, config, training entry
        Case("train", "StepContext(None)", lambda: StepContext(None), "backend"),
        Case("train", "StepContext(backend, config='x')",
             lambda: StepContext(_ctx().backend, "x"), "config"),
        Case("train", "QuantConfig(rounding='up')", lambda: QuantConfig(rounding="up"),
             "rounding"),
        Case("train", "QuantConfig(fixed_scale_exp=3) without grad_scale='off'",
             lambda: QuantConfig(fixed_scale_exp=3), "fixed_scale_exp"),
        Case("train", "QuantConfig(acc_width=0)", lambda: QuantConfig(acc_width=0), "acc_width"),
        Case("train", "train_run(seed=-1)", lambda: _train_run(seed=-1), "seed"),
        Case("train", "train_run(seed=1.5)", lambda: _train_run(seed=1.5), "seed"),
        Case("train", "train_run(seed='1')", lambda: _train_run(seed="1"), "seed"),
        Case("train", "train_run(model='rnn')", lambda: _train_run(model="rnn"), "model"),
        Case("train", "train_run(policy='q8')", lambda: _train_run(policy="q8"), "policy"),
        Case("train", "train_run(lr=-1)", lambda: _train_run(lr=-1.0), "lr"),
        Case("train", "train_run(batch=0)", lambda: _train_run(batch=0), "batch"),
        Case("train", "train_run(max_steps=0)", lambda: _train_run(max_steps=0), "max_steps"),
        Case("train", "train_run(max_steps=1.5)", lambda: _train_run(max_steps=1.5),
             "max_steps"),
        Case("train", "train_run(pact_alpha=0)",
             lambda: _train_run(policy="q4", pact_alpha=0.0), "alpha"),
        # --- environment
        Case("env", "WAVES=2", lambda: _waves("2"), "WAVES"),
        Case("env", "WAVES=off", lambda: _waves("off"), "WAVES"),
        Case("env", "WAVES=yes", lambda: _waves("yes"), "WAVES"),
        Case("env", "WAVES=1 (valid)", lambda: _waves("1"), None, lambda r: r is True),
        Case("env", "WAVES=0 (valid)", lambda: _waves("0"), None, lambda r: r is False),
        Case("env", "SIM=modelsim", lambda: (os.environ.__setitem__("SIM", "modelsim"),
                                             __import__("sim.toolchain").toolchain
                                             .selected_simulator()), "SIM"),
    ]
    cases += _hdl_cases()
    return cases


def _hdl_cases() -> list[Case]:
    def build(module, cls, **kw):
        import importlib
        return getattr(importlib.import_module(module), cls)(**kw)
    return [
        Case("hdl", "OuterProductArray(rows=0)", lambda: build("hdl.array", "OuterProductArray",
                                                           rows=0), "rows"),
        Case("hdl", "OuterProductArray(cols='4')", lambda: build("hdl.array", "OuterProductArray",
                                                             cols="4"), "cols"),
        Case("hdl", "OuterProductArray(acc_width=4)", lambda: build("hdl.array", "OuterProductArray",
                                                                acc_width=4), "acc_width"),
        Case("hdl", "GradientUnit(lanes=0)", lambda: build("hdl.gradient_unit", "GradientUnit",
                                                           lanes=0), "lanes"),
        Case("hdl", "Readout(acc_width=1.5)", lambda: build("hdl.readout", "Readout",
                                                            acc_width=1.5), "acc_width"),
        Case("hdl", "ProcessingElement(acc_width=200)", lambda: build(
            "hdl.pe", "ProcessingElement", acc_width=200), "acc_width"),
    ]


def _child(conn, case):
    _limit_memory()
    try:
        result = case.run()
    except BaseException as exc:                 # a SystemExit or a MemoryError counts too
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        try:
            ok = case.check(result) if case.check else None
        except Exception as exc:
            ok = f"check failed: {exc}"
        conn.send(("returned", (repr(result)[:200], ok)))
    conn.close()


def names_argument(name: str, message: str) -> bool:
    """Whether ``message`` names ``name`` as a word of its own (``seed``, not ``SeedSequence``);
    an upper-case name (a make variable) must appear in upper case."""
    flags = 0 if name.isupper() else re.I
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w])", message, flags=flags) is not None


def classify(case: Case, kind: str, detail) -> tuple[str, str]:
    """The class of one outcome and a one-line reason."""
    if kind == "hang":
        return "hang", detail
    if kind == "error":
        if case.names is None:
            return "confusing", f"valid input rejected: {detail}"
        if names_argument(case.names, detail):
            return "clear", detail
        return "confusing", detail
    result, ok = detail
    if case.names is not None:
        return "silent", f"accepted, returned {result}"
    return ("correct", result) if ok is True else ("silent", f"wrong result {result}")


def run_api_case(case: Case, timeout=TIMEOUT_S) -> tuple[str, str]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, case))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return classify(case, "hang", f"no answer in {timeout} s")
    try:
        kind, detail = parent.recv()
    except EOFError:
        kind, detail = "error", f"the process died (exit {proc.exitcode})"
    proc.join()
    return classify(case, kind, detail)


# --------------------------------------------------------------------------- CLI and make


class Command(NamedTuple):
    """A command run in the repository; a clear failure exits non-zero within the time limit
    and its output contains ``names``; None: it must succeed."""

    group: str
    label: str
    argv: list
    names: str | None


def _commands(tmp: Path) -> list[Command]:
    py = [sys.executable, "-m"]
    existing = tmp / "a-file"
    existing.write_text("")
    quick = ["--epochs", "1", "--seeds", "1"]
    mk = ["make", "-s", "-o", ".venv/.fourbit-setup"]
    out = str(tmp / "out")
    return [
        Command("cli", "train --models mlp,mlp", py + ["experiments.train", "--out", out,
                                                       "--models", "mlp,mlp", *quick],
                "--models"),
        Command("cli", "train --fixed-scale-exp 3 (grad scale current)",
                py + ["experiments.train", "--out", out, "--models", "mlp",
                      "--fixed-scale-exp", "3", *quick], "--fixed-scale-exp"),
        Command("cli", "train --ablation-seeds 2 without --ablations",
                py + ["experiments.train", "--out", out, "--models", "mlp",
                      "--ablation-seeds", "1", *quick], "--ablation-seeds"),
        Command("cli", "train --models ''", py + ["experiments.train", "--out", out, "--models", "",
                                                  *quick], "--models"),
        Command("cli", "train --models rnn", py + ["experiments.train", "--out", out, "--models",
                                                   "rnn", *quick], "rnn"),
        Command("cli", "train --seeds 0", py + ["experiments.train", "--out", out, "--seeds", "0"],
                "--seeds"),
        Command("cli", "train --fixed-scale-exp 300",
                py + ["experiments.train", "--out", out, "--grad-scale", "off",
                      "--fixed-scale-exp", "300", *quick], "fixed_scale_exp"),
        Command("cli", "train --out <existing file>",
                py + ["experiments.train", "--out", str(existing), "--models", "mlp", *quick],
                "--out"),
        Command("cli", "train --out <file>/sub",
                py + ["experiments.train", "--out", str(existing / "sub"), "--models", "mlp",
                      *quick], "--out"),
        Command("cli", "hdl.gen array_4x4", py + ["hdl.gen", "--out", out, "array_4x4"],
                "--rows"),
        Command("cli", "hdl.gen --rows 0", py + ["hdl.gen", "--out", out, "--rows", "0"],
                "rows"),
        Command("cli", "hdl.gen --out <existing file>",
                py + ["hdl.gen", "--out", str(existing), "pe"], "--out"),
        Command("cli", "hdl.gen --out <file>/sub",
                py + ["hdl.gen", "--out", str(existing / "sub"), "pe"], "--out"),
        Command("make", "make verilog ROWS='4 5'", mk + ["verilog", "ROWS=4 5"], "ROWS"),
        Command("make", "make verilog ROWS=abc", mk + ["verilog", "ROWS=abc"], "ROWS"),
        Command("make", "make verilog ROWS=0", mk + ["verilog", "ROWS=0"], "rows"),
        Command("make", "make verilog COLS=-2", mk + ["verilog", "COLS=-2"], "cols"),
        Command("make", "make verilog ACC_WIDTH=7", mk + ["verilog", "ACC_WIDTH=7"],
                "acc_width"),
        Command("make", "make verilog ROWS=1000 COLS=1000",
                mk + ["verilog", "ROWS=1000", "COLS=1000"], "limit"),
        Command("make", "make verilog ROWS=200 COLS=200 (too big for this machine)",
                mk + ["verilog", "ROWS=200", "COLS=200"], "limit"),
        Command("make", "make test JOBS=abc", mk + ["test", "JOBS=abc"], "JOBS"),
        Command("make", "make verilog WAVES=2", mk + ["verilog", "WAVES=2"], "WAVES"),
        Command("make", "make sim SIM=modelsim", mk + ["sim", "SIM=modelsim"], "SIM"),
    ]


def _without_usage(text: str) -> str:
    """``text`` without argparse's usage block, which lists every option's name."""
    out, in_usage = [], False
    for line in text.splitlines():
        in_usage = line.startswith("usage:") or (in_usage and line.startswith(" "))
        if not in_usage:
            out.append(line)
    return "\n".join(out)


def run_command(cmd: Command, repo: Path, timeout=TIMEOUT_S) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "JOBS", "WAVES", "SIM")}
    env["PYTHONPATH"] = str(repo)
    # A session of its own, so that a timeout ends the whole tree (make and what it started).
    proc = subprocess.Popen(cmd.argv, cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=_limit_memory,
                            start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "hang", f"no answer in {timeout} s"
    text = _without_usage(text).strip()
    last = text.splitlines()[-1] if text else ""
    if proc.returncode == 0:
        if cmd.names is None:
            return "correct", last
        return "silent", f"exit 0: {last[:150]}"
    if cmd.names is None:
        return "confusing", f"valid command failed: {last[:150]}"
    if "Traceback" not in text and names_argument(cmd.names, text):
        return "clear", last[:150]
    return "confusing", last[:150]


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=Path.cwd(),
                    help="checkout to probe (its root must be on PYTHONPATH for the API)")
    ap.add_argument("--list", action="store_true", help="print every case and its outcome")
    ap.add_argument("--no-commands", action="store_true", help="API cases only (fast)")
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    if not (repo / "golden").is_dir():
        ap.error(f"--repo {repo} is not a fourbit checkout (no golden/ folder)")
    sys.path.insert(0, str(repo))
    counts, rows = Counter(), []
    for case in _api_cases():
        cls, why = run_api_case(case)
        counts[cls] += 1
        rows.append((case.group, case.label, cls, why))
    if not args.no_commands:
        with tempfile.TemporaryDirectory() as tmp:
            for cmd in _commands(Path(tmp)):
                cls, why = run_command(cmd, repo)
                counts[cls] += 1
                rows.append((cmd.group, cmd.label, cls, why))
    for group, label, cls, why in rows:
        if args.list or cls not in ("clear", "correct"):
            print(f"{cls:9s} {group:8s} {label}: {why.splitlines()[0][:160] if why else ''}")
    print(f"probe: {sum(counts.values())} cases: "
          + ", ".join(f"{counts[c]} {c}" for c in CLASSES))
    return 0 if counts["clear"] + counts["correct"] == sum(counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
