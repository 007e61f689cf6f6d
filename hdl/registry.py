"""The design registry: every generated design, its parameters, its name and who uses it.

One table, :data:`DESIGNS`, that Verilog generation (``make verilog``, :mod:`hdl.gen`), lint
(:mod:`sim.lint`), synthesis (:mod:`synth`) and the benchmark (:mod:`sim.bench`) all read.
A design added here is generated, linted and (if its ``flows`` say so) measured everywhere.

Names. An entry's ``name`` is a template over the shared parameters (``array_{rows}x{cols}``);
filled in it is the *instance name* (``array_8x8``, what reports show), and with every other
parameter the design takes appended (``_acc32``, ``_lanes8``) it is the *file stem*, the name
of the generated Verilog file and module (``array_8x8_acc32``), so files of two parameter
sets never share a name. :func:`instance_name`, :func:`file_stem` build names and
:func:`parse` takes any of them apart again: nothing else formats or parses a design name.

Parameters are the shared ``rows``, ``cols`` and ``acc_width`` (:data:`PARAMS`); an entry
maps its factory's keyword arguments onto them (``GradientUnit(lanes=cols)``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from golden.gemm import check_acc_width
from hdl.params import check_positive_int

__all__ = ["Param", "Design", "PARAMS", "DESIGNS", "FLOWS", "get", "designs", "instance_name",
           "file_stem", "build", "parse"]

#: The flows that read the registry: ``verilog`` (make verilog, and so make lint), ``synth``
#: (make synth measures the entry) and ``bench`` (make bench simulates it).
FLOWS = frozenset({"verilog", "synth", "bench"})


@dataclass(frozen=True)
class Param:
    """A shared design parameter: default, allowed range and the check that enforces it."""

    name: str
    default: int
    low: int
    high: int | None
    doc: str

    def check(self, value) -> int:
        """``value`` as an int, or a TypeError/ValueError naming the parameter."""
        if self.name == "acc_width":
            return check_acc_width(value)
        return check_positive_int(self.name, value)


#: The shared parameters, in the order names show them.
PARAMS = MappingProxyType({
    "rows": Param("rows", 4, 1, None, "array rows (R)"),
    "cols": Param("cols", 4, 1, None, "array columns (C), and lanes of the units beside it"),
    "acc_width": Param("acc_width", 32, 18, 48, "signed accumulator width (golden.gemm)"),
})
#: Short form of a factory argument in a file stem (``acc_width`` -> ``_acc32``).
STEM_SHORT = MappingProxyType({"rows": "rows", "cols": "cols", "lanes": "lanes",
                               "acc_width": "acc"})


@dataclass(frozen=True)
class Design:
    """One registry entry.

    ``kwargs`` maps the factory's keyword arguments to shared parameters; ``semantics`` is the
    one-line statement of what the design computes (shown next to every synthesis figure);
    ``baselines`` the parameter sets with a baseline, ``synth/baselines/<instance name>.json``
    (area and Fmax; none: no baseline); ``flows`` the flows beyond Verilog/lint that use it;
    ``mac_pe`` marks a processing element taking one multiply-accumulate per clock (the
    synthesis report compares those at equal throughput); ``units`` maps
    the submodules of a composed design to the registry entries they are (their area is
    reported apart: synthesised on their own under the same parameters).
    """

    name: str
    module: str
    factory: str
    kwargs: MappingProxyType
    semantics: str
    flows: frozenset = field(default=frozenset({"verilog"}))
    baselines: tuple = ()
    units: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    mac_pe: bool = False

    def __post_init__(self):
        unknown = set(self.kwargs.values()) - set(PARAMS)
        if unknown or not self.flows <= FLOWS:
            raise ValueError(f"design {self.name!r}: unknown parameters {unknown} or flows "
                             f"{set(self.flows) - FLOWS}")

    @property
    def params(self) -> tuple[str, ...]:
        """The shared parameters this design depends on, in :data:`PARAMS` order."""
        return tuple(p for p in PARAMS if p in self.kwargs.values())

    @property
    def sized(self) -> bool:
        """The name carries parameters (``array_{rows}x{cols}``): a family of designs."""
        return "{" in self.name

    def resolve(self, **params) -> dict:
        """Every shared parameter: defaults, overridden by ``params``, each checked."""
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise TypeError(f"{self.name}: unknown parameters {sorted(unknown)}")
        full = {p: spec.default for p, spec in PARAMS.items()} | params
        return {p: PARAMS[p].check(v) if p in self.params else v for p, v in full.items()}

    def instance_name(self, **params) -> str:
        """The template filled in: ``array_8x8`` (what reports and baselines are named)."""
        return self.name.format(**self.resolve(**params))

    def file_stem(self, **params) -> str:
        """Instance name plus ``_<short><value>`` for every factory argument the name does not
        show: the Verilog file and module name (``array_8x8_acc32``, ``pe_acc32``)."""
        full = self.resolve(**params)
        stem = self.name.format(**full)
        for arg, param in self.kwargs.items():
            if "{" + param + "}" not in self.name:
                stem += f"_{STEM_SHORT.get(arg, arg)}{full[param]}"
        return stem

    def build(self, **params):
        """A new instance of the component under these parameters."""
        full = self.resolve(**params)
        cls = getattr(importlib.import_module(self.module), self.factory)
        return cls(**{arg: full[param] for arg, param in self.kwargs.items()})

    def pattern(self) -> re.Pattern:
        """Regex of the instance name and, optionally, the file stem's suffix."""
        body = re.escape(self.name)
        for p in PARAMS:
            body = body.replace(re.escape("{" + p + "}"), f"(?P<{p}>[0-9]+)")
        tail = "".join(f"(?:_{STEM_SHORT.get(arg, arg)}(?P<{param}>[0-9]+))?"
                       for arg, param in self.kwargs.items()
                       if "{" + param + "}" not in self.name)
        return re.compile(body + tail + "$")


def _design(name, module, factory, semantics, flows=("verilog",), baselines=(), units=None,
            mac_pe=False, **kwargs):
    return Design(name, module, factory, MappingProxyType(kwargs), semantics,
                  frozenset(flows), tuple(MappingProxyType(b) for b in baselines),
                  MappingProxyType(units or {}), mac_pe)


_ALL = ("verilog", "synth")
#: name -> :class:`Design`. Order is the order of ``make verilog`` and of the reports.
DESIGNS = MappingProxyType({d.name: d for d in (
    _design("pe", "hdl.pe", "ProcessingElement",
            "4-bit operands (INT4/UINT4 x INT4/UINT4/R4), exact 32-bit integer accumulator "
            "(sticky saturation: frozen at the first overflow, clamped once at the drain)",
            _ALL, ({"acc_width": 32},), mac_pe=True, acc_width="acc_width"),
    _design("pe_int4", "hdl.pe", "Int4ProcessingElement",
            "4-bit integer operands only (INT4/UINT4 x INT4/UINT4, no R4 gradient path), exact "
            "32-bit integer accumulator (sticky saturation, as pe)",
            _ALL, ({"acc_width": 32},), mac_pe=True, acc_width="acc_width"),
    _design("mxfp4_pe", "hdl.mx_pe", "MxProcessingElement",
            "MXFP4 operands (E2M1 x E2M1, E8M0 block scales), exact 14-bit block sums added "
            "in a 45-bit fixed-point window anchored at the largest block exponent (K <= 4096)",
            _ALL, ({},), mac_pe=True),
    _design("nvfp4_pe", "hdl.nv_pe", "NvProcessingElement",
            "NVFP4 operands (E2M1 x E2M1, E4M3 block scales; FP32 tensor scales on the host), "
            "exact 20-bit scaled block sums added in a 56-bit fixed-point window anchored at "
            "the largest block exponent, exact for every input (K <= 4096)",
            _ALL, ({},), mac_pe=True),
    _design("array_{rows}x{cols}", "hdl.array", "OuterProductArray",
            "R x C of the 4-bit PE, exact 32-bit integer accumulators (sticky saturation, "
            "one clamp per column)",
            ("verilog", "synth", "bench"),
            ({"rows": 4, "cols": 4, "acc_width": 32}, {"rows": 8, "cols": 8, "acc_width": 32}),
            rows="rows", cols="cols", acc_width="acc_width"),
    _design("mxfp4_array_{rows}x{cols}", "hdl.mx_array", "MxOuterProductArray",
            "R x C of the MXFP4 PE (codes and block scales broadcast along rows and columns, "
            "per-output anchors from the host), 45-bit windows (K <= 4096)", _ALL,
            rows="rows", cols="cols"),
    _design("nvfp4_array_{rows}x{cols}", "hdl.mx_array", "NvOuterProductArray",
            "R x C of the NVFP4 PE (codes and E4M3 block scales broadcast along rows and "
            "columns, per-output anchors from the host; FP32 tensor scales on the host), "
            "56-bit windows, exact for every input (K <= 4096)", _ALL,
            rows="rows", cols="cols"),
    _design("r4_quantizer", "hdl.r4_quantizer", "R4QuantizerLane",
            "FP16 -> R4 gradient quantizer lane", _ALL, ({},)),
    _design("gradient_unit", "hdl.gradient_unit", "GradientUnit",
            "C lanes of FP16 -> R4 quantization with a shared amax tracker", lanes="cols"),
    _design("readout", "hdl.readout", "Readout",
            "32-bit accumulator -> FP16 read-out converter", _ALL, ({"acc_width": 32},),
            acc_width="acc_width"),
    _design("readout_lanes_{cols}", "hdl.readout", "ReadoutLanes",
            "C lanes of the 32-bit accumulator -> FP16 read-out", acc_width="acc_width",
            lanes="cols"),
    _design("fp16_fma_pe", "hdl.fp16_fma", "Fp16FmaPE",
            "FP16 x FP16 fused multiply-add, FP16 accumulator (one RNE rounding per step, "
            "subnormals, Inf/NaN)", _ALL, ({},), mac_pe=True),
    _design("fp16_fma_pe_pipelined", "hdl.fp16_fma", "Fp16FmaPipelinedPE",
            "FP16 x FP16 fused multiply-add, FP16 accumulator, each dot product bit-exact with "
            "fp16_fma_pe; 8 dot products interleaved round-robin through an 8-stage "
            "accumulation loop, one MAC per clock", _ALL, ({},), mac_pe=True),
    _design("fp8_mac_pe", "hdl.fp8_mac", "Fp8MacPE",
            "FP8 E4M3 x E4M3 multiply-accumulate, FP32 accumulator (exact product, one RNE "
            "rounding per step, subnormals, Inf/NaN accumulator)", _ALL, ({},), mac_pe=True),
    _design("training_units_{rows}x{cols}", "hdl.training_units", "TrainingUnits",
            "the composed datapath: R x C array, C-lane gradient unit (R4 quantizers + amax), "
            "C-lane FP16 read-out, on one clock", _ALL,
            # No baseline yet: Yosys 0.70 cannot synthesise the 8x8 (docs/synth.md).
            (), {"array": "array_{rows}x{cols}", "gradient_unit": "gradient_unit",
             "readout": "readout_lanes_{cols}"},
            rows="rows", cols="cols", acc_width="acc_width"),
    _design("backward_tile_{rows}x{cols}", "hdl.backward_tile", "BackwardTile",
            "one backward GEMM wired end to end: gradient unit -> array operand B -> FP16 "
            "read-out of every result row", rows="rows", cols="cols", acc_width="acc_width"),
)})


def get(name: str) -> Design:
    """The entry named ``name`` (a template such as ``array_{rows}x{cols}``), or a KeyError
    listing the known names."""
    try:
        return DESIGNS[name]
    except KeyError:
        raise KeyError(f"unknown design {name!r}; known: {', '.join(DESIGNS)}") from None


def designs(flow: str) -> list[Design]:
    """The entries that ``flow`` (one of :data:`FLOWS`) uses, in registry order."""
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {sorted(FLOWS)}, not {flow!r}")
    return [d for d in DESIGNS.values() if flow in d.flows]


def instance_name(name: str, **params) -> str:
    """:meth:`Design.instance_name` of entry ``name``."""
    return get(name).instance_name(**params)


def file_stem(name: str, **params) -> str:
    """:meth:`Design.file_stem` of entry ``name``."""
    return get(name).file_stem(**params)


def build(name: str, **params):
    """(instance name, new component) of entry ``name`` under ``params``."""
    design = get(name)
    return design.instance_name(**params), design.build(**params)


def parse(name: str) -> tuple[Design, dict]:
    """The entry and the parameters a concrete name shows: ``array_8x8`` -> (array entry,
    ``{"rows": 8, "cols": 8}``); ``pe_acc24`` -> (pe, ``{"acc_width": 24}``). Parameters the
    name does not show are absent (their defaults apply). ValueError if no entry matches."""
    for design in DESIGNS.values():
        match = design.pattern().match(name)
        if match:
            return design, {k: int(v) for k, v in match.groupdict().items() if v is not None}
    raise ValueError(f"{name!r} is no design name of the registry "
                     f"(templates: {', '.join(DESIGNS)})")
