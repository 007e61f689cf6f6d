"""Formal proofs (SymbiYosys) of the stream blocks and of the R4 lane against a reference.

One harness module per block (``array``, ``r4_lane``, ``gradient_unit``, ``readout``), each
with its list ``PROOFS``; shared properties in ``props`` and ``stage``; the runner in ``sby``
and ``run`` (``make formal``). docs/formal.md says what each proof states.
"""
