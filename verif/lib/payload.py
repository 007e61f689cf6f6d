"""Stream payloads as integers, packed and unpacked by the hdl layouts (never by hand offsets).

cocotb drives and reads a Verilog payload port as one integer, the members at the offsets of
the component's ``amaranth.lib.data`` layout. :func:`port_layout` reads that layout from a
component's signature; :func:`pack` and :func:`field` turn struct members into a payload and
back; :func:`pack_array` and :func:`unpack_array` do the same for the elements of an
``ArrayLayout`` member (lane ``k`` at ``k * element size``). Unpacking works on NumPy arrays
of payloads; payloads wider than 63 bits go through ``dtype=object``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from amaranth.lib import data


def port_layout(component, name: str) -> data.Layout:
    """The payload layout of stream port ``name`` of ``component`` (from its signature)."""
    member = component.signature.members[name]
    return data.Layout.cast(member.signature.members["payload"].shape)


def pack(layout: data.StructLayout, **values: int) -> int:
    """A payload integer with each named member of ``layout`` set (the others 0)."""
    return sum((int(value) & ((1 << layout[name].width) - 1)) << layout[name].offset
               for name, value in values.items())


def field(bits, layout: data.StructLayout, name: str):
    """Member ``name`` of ``layout`` from payload integers (an int or a NumPy array)."""
    return (bits >> layout[name].offset) & ((1 << layout[name].width) - 1)


def pack_array(values: Iterable[int], element_bits: int, offset: int = 0) -> int:
    """Elements ``values`` (lane 0 first) of ``element_bits`` each, from bit ``offset`` on."""
    out = 0
    for k, value in enumerate(values):
        out |= int(value) << (offset + k * element_bits)
    return out


def unpack_array(payloads, layout: data.StructLayout, name: str) -> np.ndarray:
    """The elements of ``ArrayLayout`` member ``name`` of each payload: int64 (beats, length)."""
    array = data.Layout.cast(layout[name].shape)
    size = array.size // array.length
    v = np.array(payloads, dtype=object)
    return np.stack([((v >> (layout[name].offset + k * size)) & ((1 << size) - 1))
                     .astype(np.int64) for k in range(array.length)], axis=-1)
