"""``make verilog``: write every design of the registry as ``build/verilog/<name>.v``.

The registry is the one list of designs that Verilog generation, linting and synthesis share,
so a design added here is built, linted and measured everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

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


def build(name: str, *, rows: int = 4, cols: int = 4, acc_width: int = 32):
    """Instantiate registry entry ``name`` (a template such as ``array_{rows}x{cols}``)."""
    module, factory, kwargs = DESIGNS[name]
    params = {"rows": rows, "cols": cols, "acc_width": acc_width}
    cls = getattr(importlib.import_module(module), factory)
    return name.format(**params), cls(**{k: params[v] for k, v in kwargs.items()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/verilog"))
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--acc-width", type=int, default=32)
    ap.add_argument("designs", nargs="*", help="registry names (default: all)")
    args = ap.parse_args(argv)
    names = args.designs or list(DESIGNS)
    for name in names:
        if name not in DESIGNS:
            ap.error(f"unknown design {name!r}; known: {', '.join(DESIGNS)}")
    try:
        # The shared parameters first, so that a bad one writes no file at all.
        check_positive_int("rows", args.rows)
        check_positive_int("cols", args.cols)
        check_acc_width(args.acc_width)
    except (TypeError, ValueError) as exc:
        print(f"verilog: {exc}", file=sys.stderr)
        return 2
    for name in names:
        try:
            vname, component = build(name, rows=args.rows, cols=args.cols,
                                     acc_width=args.acc_width)
        except (TypeError, ValueError) as exc:
            print(f"verilog: {name.format(rows=args.rows, cols=args.cols)}: {exc}",
                  file=sys.stderr)
            return 2
        path = write_verilog(component, vname, args.out / f"{vname}.v")
        print(f"verilog: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
