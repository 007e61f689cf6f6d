"""``make verilog``: write every design of the registry as ``build/verilog/<file stem>.v``.

The registry (:mod:`hdl.registry`) is the one list of designs that Verilog generation, linting,
synthesis and the benchmark share, so a design added there is built, linted and measured
everywhere. A file (and its module) is named by :func:`file_stem`: the instance name plus
every parameter that shapes the design and the name does not already carry
(``array_4x4_acc32``, ``gradient_unit_lanes4``), so files written with other parameters sit
next to each other under different names, never as a set that mixes two configurations
under the same names.

An array is refused above :data:`MAX_ARRAY_PES` processing elements (``--max-pes`` raises the
limit): generation time grows with the PE count (docs/array.md gives the measurements).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from golden.cli import output_dir
from hdl import registry
from hdl.verilog import write_verilog

#: The registry's entries (``hdl.registry.DESIGNS``), by template name.
DESIGNS = registry.DESIGNS
#: The largest array ``make verilog`` generates without ``--max-pes``: 32x32, about six
#: minutes here (docs/array.md).
MAX_ARRAY_PES = 1024
#: Measured generation time per PE (docs/array.md), for the estimate in the refusal.
SECONDS_PER_PE = 0.3


def file_stem(name: str, *, rows: int = 4, cols: int = 4, acc_width: int = 32) -> str:
    """The Verilog file and module name of registry entry ``name`` under these parameters
    (:meth:`hdl.registry.Design.file_stem`: ``pe`` at acc_width 32 is ``pe_acc32``)."""
    return registry.file_stem(name, rows=rows, cols=cols, acc_width=acc_width)


def build(name: str, *, rows: int = 4, cols: int = 4, acc_width: int = 32):
    """(instance name, component) of registry entry ``name`` (a template such as
    ``array_{rows}x{cols}``)."""
    return registry.build(name, rows=rows, cols=cols, acc_width=acc_width)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=output_dir, default=Path("build/verilog"))
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--acc-width", type=int, default=32)
    ap.add_argument("--max-pes", type=int, default=MAX_ARRAY_PES,
                    help=f"refuse an array of more processing elements (default {MAX_ARRAY_PES})")
    ap.add_argument("designs", nargs="*", help="registry names (default: all)")
    args = ap.parse_args(argv)
    names = args.designs or [d.name for d in registry.designs("verilog")]
    for name in names:
        if name not in DESIGNS:
            try:
                template = registry.parse(name)[0].name
            except ValueError:
                template = None
            hint = (f"; sizes come from the options: pass {template!r} with --rows and --cols"
                    if template and template != name else "")
            ap.error(f"unknown design {name!r}{hint}; known: {', '.join(DESIGNS)}")
    params = {"rows": args.rows, "cols": args.cols, "acc_width": args.acc_width}
    try:
        # The shared parameters first, so that a bad one writes no file at all.
        for name, spec in registry.PARAMS.items():
            spec.check(params[name])
    except (TypeError, ValueError) as exc:
        print(f"verilog: {exc}", file=sys.stderr)
        return 2
    pes = args.rows * args.cols
    if pes > args.max_pes and any("rows" in DESIGNS[n].params for n in names):
        print(f"verilog: a {args.rows}x{args.cols} array has {pes} processing elements, more "
              f"than the limit of {args.max_pes} (--max-pes): generation takes about "
              f"{pes * SECONDS_PER_PE / 60:.0f} min and grows with the PE count; pass --max-pes "
              f"{pes} to generate it anyway", file=sys.stderr)
        return 2
    for name in names:
        try:
            component = DESIGNS[name].build(**params)
        except (TypeError, ValueError) as exc:
            print(f"verilog: {name.format(**params)}: {exc}", file=sys.stderr)
            return 2
        stem = DESIGNS[name].file_stem(**params)
        path = write_verilog(component, stem, args.out / f"{stem}.v")
        print(f"verilog: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
