"""``make lint``: ``verilator --lint-only -Wall`` on every generated Verilog module.

The folder must hold a file of every design of the registry (:mod:`hdl.registry`) and nothing
else, so a design added to the registry is linted and a stale file is not mistaken for one.

The Verilog is Amaranth's output, so the waivers below are properties of its code generator,
not of the designs; each names the reason. Anything else Verilator reports fails the target.

Waivers
-------
DECLFILENAME
    Files are named after the registry entry (``array_4x4.v``) while Amaranth names
    submodules after their hierarchy path (``array_4x4.pe_0_0``), several per file.
UNUSEDSIGNAL
    Amaranth emits every bit of a port or struct even when a consumer reads a slice (for
    example a payload field the design only forwards, or the unused top product bits of the
    PE's 5 x 5 multiply, which the golden bound makes unreachable).
PROCASSINIT
    Amaranth gives every register its reset value as a declaration initialiser as well (the
    FPGA power-up state) and also resets it synchronously in the process.
WIDTHEXPAND, WIDTHTRUNC
    Amaranth's arithmetic is width-extending by definition; its Verilog writes the implied
    extension and truncation as plain assignments.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from hdl import registry
from sim import toolchain

WAIVERS = ("DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND", "WIDTHTRUNC")


def lint(path: Path) -> subprocess.CompletedProcess:
    """Lint one module file; its top module is the file name (hdl.gen's convention)."""
    verilator = shutil.which("verilator")
    cmd = [verilator, "--lint-only", "-Wall", *(f"-Wno-{w}" for w in WAIVERS),
           "--top-module", path.stem, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True)


def _entry(stem: str):
    try:
        return registry.parse(stem)[0]
    except ValueError:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder of generated .v files (build/verilog)")
    args = ap.parse_args(argv)
    toolchain.configure()
    files = sorted(args.folder.glob("*.v"))
    if not files:
        print(f"lint: no .v files in {args.folder}; run `make verilog`", file=sys.stderr)
        return 2
    failed = clean = 0
    # Every file must be a registry design and every design must have a file (hdl.registry).
    stems = {path.stem for path in files}
    for design in registry.designs("verilog"):
        if not any(_entry(stem) is design for stem in stems):
            failed += 1
            print(f"lint: no file of registry design {design.name!r} in {args.folder}; run "
                  "`make verilog`", file=sys.stderr)
    for path in files:
        if _entry(path.stem) is None:
            failed += 1
            print(f"lint: {path.name}: not a registry design (hdl.registry); stale file?",
                  file=sys.stderr)
            continue
        proc = lint(path)
        status = "clean" if proc.returncode == 0 else "FAILED"
        print(f"lint: {path.name}: {status}")
        if proc.returncode != 0:
            failed += 1
            print(proc.stderr, file=sys.stderr)
        else:
            clean += 1
    print(f"lint: {clean} of {len(files)} files clean (waived: {', '.join(WAIVERS)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
