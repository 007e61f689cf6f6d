"""Bit-vector helpers shared by the datapaths: leading-one and leading/trailing-zero counts."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

__all__ = ["highest_set_bit", "leading_zeros", "trailing_zeros"]


def highest_set_bit(m: Module, value: Value, name: str) -> tuple[Signal, Signal]:
    """``(nonzero, index)``: whether ``value`` has a set bit, and the index of its highest one
    (0 when ``value`` is zero), as a tree of 2:1 multiplexers (depth log2 of the width).

    An ``If`` chain over the bits would give the same function as a chain of multiplexers as
    long as the vector, which synthesis does not rebalance.
    """
    value = Value.cast(value)
    width = max(len(value), 1)
    levels = (width - 1).bit_length()
    padded = Cat(value, Const(0, (1 << levels) - len(value)))

    def tree(bits: Value, depth: int, path: str) -> tuple[Value, Value]:
        if depth == 0:
            return bits[0], Const(0, 0)
        half = 1 << (depth - 1)
        any_hi, idx_hi = tree(bits[half:], depth - 1, path + "h")
        any_lo, idx_lo = tree(bits[:half], depth - 1, path + "l")
        nonzero = Signal(name=f"{name}_any_{path}")
        index = Signal(depth, name=f"{name}_idx_{path}")
        # At the bottom level the lower index bits are empty: no zero-width multiplexer, which
        # Verilog would declare as an ascending [-1:0] vector.
        low = Mux(any_hi, idx_hi, idx_lo) if depth > 1 else Const(0, 0)
        m.d.comb += [nonzero.eq(any_hi | any_lo), index.eq(Cat(low, any_hi))]
        return nonzero, index

    nonzero, index = tree(padded, levels, "")
    if levels == 0:
        return nonzero, Const(0, 1)
    return nonzero, index


def leading_zeros(v: Value) -> tuple[Value, Value]:
    """``(all_zero, count)`` of ``v`` (power-of-two width) as a balanced tree, log2 levels
    deep; ``count`` is ``len(v) - 1`` when ``v`` is zero."""
    if len(v) == 2:
        return ~v.any(), ~v[1]
    half = len(v) // 2
    zero_lo, count_lo = leading_zeros(v[:half])
    zero_hi, count_hi = leading_zeros(v[half:])
    return zero_hi & zero_lo, Cat(Mux(zero_hi, count_lo, count_hi), zero_hi)


def trailing_zeros(m: Module, v: Value) -> Signal:
    """Number of trailing zeros of ``v`` (``len(v)`` when zero), as a priority encoder."""
    count = Signal(range(len(v) + 1), init=len(v))
    for i in reversed(range(len(v))):
        with m.If(v[i]):
            m.d.comb += count.eq(i)
    return count
