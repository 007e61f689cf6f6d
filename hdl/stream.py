"""Pipeline registers for valid/ready streams: the stages every pipelined unit is built from.

A pipelined unit (R4 quantizer, amax tracker, read-out) is a chain of combinational steps
with a register stage after each; :class:`Pipeline` builds that chain, handshake included, so
no unit writes a stream register by hand. docs/gradient_unit.md explains where each unit cuts
its datapath.

Convention: every pipelined component has a read-only ``LATENCY`` property, the cycles from a
beat's handshake on its input to its first cycle on its output (or, for a tap such as the
amax tracker, to the first cycle its status outputs include the beat; for an array, from a
tile's last beat to its first result row). A component whose streams are independent paths
(:class:`hdl.training_units.TrainingUnits`) maps each output stream's name to its latency.
This rule and the port-naming rule are in the README, "Gateware conventions".
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal

__all__ = ["Pipeline", "accumulate_products", "hold", "shift_out"]


class Pipeline:
    """A chain of one-deep stream registers behind the stream ``upstream``, built stage by stage.

    The stages move together: in a cycle where the output is ready or the last stage is
    empty, every stage takes the beat (or the bubble) of the one before it and the first
    takes the upstream beat if one is offered; otherwise every stage holds (valid and payload
    stable). So ``upstream.ready`` is ``downstream.ready | ~last.valid``, one LUT from a
    register whatever the length, never a function of ``upstream.valid``; a beat accepted in
    cycle t reaches the output at cycle t + n (``LATENCY`` = n stages) if the output is ready
    meanwhile, and the chain moves one beat per clock without backpressure. Bubbles behind a
    stalled full last stage are not squeezed out: the price of the short enable path.
    Reset empties every stage.

    Parameters
    ----------
    m : Module
        The module the registers and their logic are added to.
    name : str
        Prefix of the stage registers' names.
    upstream : stream end
        Whose ``valid`` and ``payload`` this pipeline reads and whose ``ready`` it drives (a
        flipped input port of the component, usually).
    """

    def __init__(self, m: Module, name: str, upstream):
        self._m, self._name, self._upstream = m, name, upstream
        self._valids: list[Signal] = []
        self._loads: list[tuple[Signal, Signal]] = []
        self._done = False

    @property
    def LATENCY(self) -> int:
        """Stages so far: the cycles from a beat's handshake to its first cycle on the output."""
        return len(self._valids)

    @property
    def last(self):
        """The last stage's payload register."""
        return self._loads[-1][0]

    def stage(self, name: str, shape, payload):
        """Add a stage holding ``payload`` (a value, or a dict of field values for a struct
        ``shape``) computed from the previous stage's payload; returns the new stage's payload
        (a register) for the next step to read."""
        if self._done:
            raise RuntimeError("the pipeline is already connected to its output")
        m = self._m
        valid = Signal(name=f"{self._name}_{name}_valid")
        held = Signal(shape, name=f"{self._name}_{name}")
        source = Signal(shape, name=f"{self._name}_{name}_next")
        if isinstance(payload, dict):
            m.d.comb += [getattr(source, field).eq(value) for field, value in payload.items()]
        else:
            m.d.comb += source.eq(payload)
        self._valids.append(valid)
        self._loads.append((held, source))
        return held

    def connect(self, downstream, payload=None) -> None:
        """Drive stream end ``downstream`` (``valid`` and ``payload`` written here, ``ready``
        read: an output port of the component, usually) from the last stage: its ``valid``,
        and its register, or ``payload`` (a value computed from it, or a dict of field values
        for a struct payload) if given."""
        if not self._valids:
            raise RuntimeError("a pipeline needs at least one stage")
        m, valids = self._m, self._valids
        self._done = True
        advance = Signal(name=f"{self._name}_advance")
        m.d.comb += [advance.eq(downstream.ready | ~valids[-1]),
                     self._upstream.ready.eq(advance)]
        feeding = self._upstream.valid
        with m.If(advance):
            for valid, (held, source) in zip(valids, self._loads):
                m.d.sync += valid.eq(feeding)
                with m.If(feeding):
                    m.d.sync += held.eq(source)
                feeding = valid
        m.d.comb += downstream.valid.eq(valids[-1])
        if isinstance(payload, dict):
            m.d.comb += [getattr(downstream.payload, field).eq(value)
                         for field, value in payload.items()]
        else:
            m.d.comb += downstream.payload.eq(self._loads[-1][0] if payload is None else payload)


def accumulate_products(m: Module, i, o, multiply, add, product_shape,
                        start: int) -> None:
    """The stream shell of a floating-point MAC PE (FP16 FMA, FP8 MAC): ``acc <- add(acc,
    multiply(a, b))`` per beat of ``i`` (payload ``a``, ``b``, ``first``, ``last``).

    ``multiply`` (ports ``a``, ``b``, ``product``) is combinational on the input beat and its
    product is registered; ``add`` (ports ``product``, ``c``, ``result``) adds that register to
    the accumulator, or to ``start`` (the encoding of -0) on a ``first`` beat. A ``last`` beat
    puts the updated accumulator on ``o`` two cycles after its handshake and holds it until
    taken; the input stalls meanwhile (``i.ready`` = ``~o.valid | o.ready``).
    """
    stage_valid = Signal()
    stage_first = Signal()
    stage_last = Signal()
    stage_product = Signal(product_shape)
    acc = Signal(len(o.payload))

    moves = ~o.valid | o.ready
    m.d.comb += [
        i.ready.eq(moves),
        multiply.a.eq(i.payload.a),
        multiply.b.eq(i.payload.b),
        add.product.eq(stage_product),
        add.c.eq(Mux(stage_first, start, acc)),
        o.payload.eq(acc),
    ]
    with m.If(o.ready):
        m.d.sync += o.valid.eq(0)
    with m.If(moves):
        m.d.sync += [
            stage_valid.eq(i.valid),
            stage_first.eq(i.payload.first),
            stage_last.eq(i.payload.last),
            stage_product.eq(multiply.product),
        ]
        with m.If(stage_valid):
            m.d.sync += acc.eq(add.result)
            with m.If(stage_last):
                m.d.sync += o.valid.eq(1)


def hold(m: Module, upstream, reg: Signal, full: Signal, release) -> None:
    """A one-beat holding register ``reg`` (with its flag ``full``) behind the stream
    ``upstream``, as the arrays hold their operand beats until every operand of a step is in.

    ``upstream.ready`` is ``~full | release``: the register takes a beat when it is empty or
    when its beat leaves in the same cycle; ``release`` (the consumer taking the held beat,
    a function of registers only, so ``ready`` never depends on ``upstream.valid``) empties it
    otherwise. A beat is never lost or taken twice: it is stored on its handshake and leaves
    on one ``release``. Reset empties it.
    """
    m.d.comb += upstream.ready.eq(~full | release)
    with m.If(upstream.valid & upstream.ready):
        m.d.sync += [reg.eq(upstream.payload), full.eq(1)]
    with m.Elif(release):
        m.d.sync += full.eq(0)


def shift_out(m: Module, chain, pending: Signal, valid: Signal, last: Signal, load, fire) -> None:
    """Send the rows of the register ``chain`` one per handshake, head first, as the arrays
    drain a finished tile: ``chain[0]`` is on the output stream while ``valid``.

    ``load`` (the caller fills the chain in that cycle) sets ``pending`` to ``len(chain)``,
    ``valid`` and ``last`` (on a one-row chain); each ``fire`` (the output handshake) shifts
    the chain by one row toward its head and counts ``pending`` down, ``last`` marking the
    final row and ``valid`` falling after it. ``valid`` and ``last`` are registered (the
    flags of ``pending != 0`` and ``pending == 1``). ``load`` must not come while rows of the
    previous tile are pending: the caller's scheduling guarantees it.
    """
    rows = len(chain)
    with m.If(load):
        m.d.sync += [pending.eq(rows), valid.eq(1), last.eq(rows == 1)]
    with m.Elif(fire):
        m.d.sync += [pending.eq(pending - 1), valid.eq(~last), last.eq(pending == 2)]
        m.d.sync += [chain[i].eq(chain[i + 1]) for i in range(rows - 1)]
