"""Elaboration-time parameters shared by the components: their checks and their getters."""

from __future__ import annotations

from numbers import Integral

__all__ = ["ArrayShape", "check_positive_int"]


def check_positive_int(name: str, value) -> int:
    """``value`` as a Python int if it is a positive integer (NumPy integers included; bools,
    floats and strings are not), else a TypeError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


class ArrayShape:
    """Mixin: the read-only ``rows``, ``cols`` and ``acc_width`` of an R x C array, or of a unit
    built around one, which its constructor checks (or derives) and stores in ``_rows``,
    ``_cols`` and ``_acc_width``."""

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def acc_width(self) -> int:
        return self._acc_width
