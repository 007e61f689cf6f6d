"""argparse types shared by the command-line entry points (``make train``, ``make verilog``,
``make synth``, ``make bench``, ``make train-rtl``).

They live in the lowest package so that hdl/, sim/ and synth/ need not import upwards.

Each turns a bad value into argparse's usual one-line error naming the option, instead of a
traceback from deep inside the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    """A count (seeds, epochs): 0 would give an empty table or, for --epochs, the default."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def output_dir(text: str) -> Path:
    """A folder to write into: an existing folder, or a new one whose nearest existing
    ancestor is a folder (it is created later, when the run writes)."""
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
        return path
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {parent} is not a folder")
    return path
