"""Elaboration-time parameter checks shared by the components."""

from __future__ import annotations

from numbers import Integral

__all__ = ["check_positive_int"]


def check_positive_int(name: str, value) -> int:
    """``value`` as a Python int if it is a positive integer (NumPy integers included; bools,
    floats and strings are not), else a TypeError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
