"""``make verilog``: write every design of the registry as ``build/verilog/<file stem>.v``.

The registry is the one list of designs that Verilog generation, linting and synthesis share,
so a design added here is built, linted and measured everywhere. A file (and its module) is
named by :func:`file_stem`: the registry name plus every parameter that shapes the design and
the name does not already carry (``array_4x4_acc32``, ``gradient_unit_lanes4``), so files
written with other parameters sit next to each other under different names, never as a set
that mixes two configurations under the same names.

An array is refused above :data:`MAX_ARRAY_PES` processing elements (``--max-pes`` raises the
limit): generation time grows with the PE count (docs/array.md gives the measurements).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from experiments.cli import output_dir
from golden.gemm import check_acc_width
from hdl.params import check_positive_int
from sim.verilog import write_verilog

#: name -> (module, factory, keyword arguments). ``{rows}``-style names are filled from the
#: command line (array size); other entries are fixed configurations.
DESIGNS = {
    "pe": ("hdl.pe", "ProcessingElement", {"acc_width": "acc_width"}),
    "array_{rows}x{cols}": ("hdl.array", "SystolicArray",
                            {"rows": "rows", "cols": "cols", "acc_width": "acc_width"}),
    "r4_quantizer": ("hdl.r4_quantizer", "R4QuantizerLane", {}),
    "gradient_unit": ("hdl.gradient_unit", "GradientUnit", {"lanes": "cols"}),
    "readout": ("hdl.readout", "Readout", {"acc_width": "acc_width"}),
    "readout_lanes_{cols}": ("hdl.readout", "ReadoutLanes",
                             {"acc_width": "acc_width", "lanes": "cols"}),
    "fp16_fma_pe": ("hdl.fp16_fma", "Fp16FmaPE", {}),
    "training_units_{rows}x{cols}": ("hdl.training_units", "TrainingUnits",
                                     {"rows": "rows", "cols": "cols", "acc_width": "acc_width"}),
}


#: Short names of the parameters that :func:`file_stem` appends (keyed by factory argument).
STEM_PARAMS = {"rows": "rows", "cols": "cols", "lanes": "lanes", "acc_width": "acc"}
#: The largest array ``make verilog`` generates without ``--max-pes``: 32x32, about six
#: minutes here (docs/array.md).
MAX_ARRAY_PES = 1024
#: Measured generation time per PE (docs/array.md), for the estimate in the refusal.
SECONDS_PER_PE = 0.3


def file_stem(name: str, *, rows: int = 4, cols: int = 4, acc_width: int = 32) -> str:
    """The Verilog file and module name of registry entry ``name`` under these parameters.

    The formatted name, plus ``_<short><value>`` for every factory argument whose value the
    name does not show (``pe`` at acc_width 32 is ``pe_acc32``).
    """
    _, _, kwargs = DESIGNS[name]
    params = {"rows": rows, "cols": cols, "acc_width": acc_width}
    stem = name.format(**params)
    for arg, param in kwargs.items():
        if "{" + param + "}" not in name:
            stem += f"_{STEM_PARAMS.get(arg, arg)}{params[param]}"
    return stem


def build(name: str, *, rows: int = 4, cols: int = 4, acc_width: int = 32):
    """Instantiate registry entry ``name`` (a template such as ``array_{rows}x{cols}``)."""
    module, factory, kwargs = DESIGNS[name]
    params = {"rows": rows, "cols": cols, "acc_width": acc_width}
    cls = getattr(importlib.import_module(module), factory)
    return name.format(**params), cls(**{k: params[v] for k, v in kwargs.items()})


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
    names = args.designs or list(DESIGNS)
    for name in names:
        if name not in DESIGNS:
            template = next((d for d in DESIGNS if "{" in d and d.split("{")[0]
                             and name.startswith(d.split("{")[0])), None)
            hint = (f"; sizes come from the options: pass {template!r} with --rows and --cols"
                    if template else "")
            ap.error(f"unknown design {name!r}{hint}; known: {', '.join(DESIGNS)}")
    try:
        # The shared parameters first, so that a bad one writes no file at all.
        check_positive_int("rows", args.rows)
        check_positive_int("cols", args.cols)
        check_acc_width(args.acc_width)
    except (TypeError, ValueError) as exc:
        print(f"verilog: {exc}", file=sys.stderr)
        return 2
    pes = args.rows * args.cols
    if pes > args.max_pes and any("{rows}" in n for n in names):
        print(f"verilog: a {args.rows}x{args.cols} array has {pes} processing elements, more "
              f"than the limit of {args.max_pes} (--max-pes): generation takes about "
              f"{pes * SECONDS_PER_PE / 60:.0f} min and grows with the PE count; pass --max-pes "
              f"{pes} to generate it anyway", file=sys.stderr)
        return 2
    for name in names:
        try:
            vname, component = build(name, rows=args.rows, cols=args.cols,
                                     acc_width=args.acc_width)
        except (TypeError, ValueError) as exc:
            print(f"verilog: {name.format(rows=args.rows, cols=args.cols)}: {exc}",
                  file=sys.stderr)
            return 2
        stem = file_stem(name, rows=args.rows, cols=args.cols, acc_width=args.acc_width)
        path = write_verilog(component, stem, args.out / f"{stem}.v")
        print(f"verilog: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
