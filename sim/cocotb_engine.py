"""The cocotb engine: :class:`sim.rtl_backend.Engine` on a DUT under cocotb (Verilator, Icarus).

The training step is ordinary blocking Python, so it runs in a :func:`cocotb.task.bridge`
thread; each engine call blocks it on a :func:`cocotb.task.resume` coroutine that drives the
DUT. The beats are the ones ``sim.tiling`` made for the native engine, converted to integers,
so both engines run the same schedule. Every stream run withholds ``valid`` (probability
``idle``) and ``ready`` (``stall``) at random from a logged seed and drives junk payload on idle
beats.

Timing: between calls the engine stands just after a falling clock edge. A cycle of
:meth:`CocotbEngine.run` writes the inputs there, waits for ``ReadOnly`` to see the settled
``valid`` / ``ready`` of the coming rising edge, records the handshakes, then waits for the
next falling edge.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import resume
from cocotb.triggers import FallingEdge, ReadOnly

from sim.rtl_backend import EngineFault

__all__ = ["CocotbEngine"]

INPUT_STREAMS = ("i_a", "i_b", "i_grad", "i_acc")
OUTPUT_STREAMS = ("o_c", "o_codes", "o_fp16")


def _to_ints(words: np.ndarray) -> list[int]:
    raw = np.ascontiguousarray(words, dtype="<u4").tobytes()
    step = 4 * words.shape[1]
    return [int.from_bytes(raw[i:i + step], "little") for i in range(0, len(raw), step)]


def _to_words(values: list[int], n_words: int) -> np.ndarray:
    raw = b"".join(v.to_bytes(4 * n_words, "little") for v in values)
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32).reshape(len(values), n_words)


class CocotbEngine:
    """Drives :class:`hdl.training_units.TrainingUnits` under cocotb; call :meth:`start` first."""

    def __init__(self, dut, rows: int, cols: int, acc_width: int, *, seed: int,
                 idle: float = 0.2, stall: float = 0.2):
        self.dut = dut
        self.rows, self.cols, self.acc_width = rows, cols, acc_width
        self._rng = np.random.default_rng(seed)
        self._idle, self._stall = idle, stall
        self._fall = FallingEdge(dut.clk)
        self.set = resume(self._set)
        self.get = resume(self._get)
        self.step = resume(self._step)
        self.run = resume(self._run)

    async def start(self) -> None:
        """Start the clock and reset the DUT (from the test coroutine, not the bridge)."""
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        for name in INPUT_STREAMS:
            getattr(dut, f"{name}__valid").value = 0
        for name in OUTPUT_STREAMS:
            getattr(dut, f"{name}__ready").value = 0
        dut.rst.value = 1
        await self._fall
        await self._fall
        dut.rst.value = 0
        await self._fall

    async def _set(self, port, value):
        getattr(self.dut, port).value = int(value)

    async def _get(self, port):
        return int(getattr(self.dut, port).value)

    async def _step(self, cycles):
        for _ in range(cycles):
            await self._fall

    async def _run(self, inputs, outputs, *, budget):
        dut, rng = self.dut, self._rng
        ins = [_Source(dut, name, words, rng) for name, words in inputs.items()]
        outs = [_Sink(dut, name, int(count)) for name, count in outputs.items()]
        # Output streams not asked for are held (ready low): a stray beat waits there and is
        # reported when the run ends.
        held = [name for name in OUTPUT_STREAMS if name not in outputs]
        for name in held:
            getattr(dut, f"{name}__ready").value = 0
        for cycle in range(budget):
            if all(s.done for s in ins) and all(s.done for s in outs):
                for s in ins:
                    s.valid.value = 0
                stray = [name for name in held if int(getattr(dut, f"{name}__valid").value)]
                if stray:
                    raise EngineFault(f"{', '.join(stray)}: a result beat nobody asked for",
                                      *self._progress(ins, outs))
                for s in outs:
                    s.ready.value = 0          # held between runs: a stray beat waits
                return {s.name: _to_words(s.beats, s.words) for s in outs}, cycle
            for s in ins:
                s.drive(rng.random() >= self._idle, cycle)
            for s in outs:
                s.take = rng.random() >= self._stall
                s.ready.value = int(s.take)
            await ReadOnly()
            for s in ins:
                s.sample()
            for s in outs:
                if s.sample():
                    raise EngineFault(f"{s.name}: a result beat nobody asked for",
                                      *self._progress(ins, outs))
            await self._fall
        for s in ins:
            s.valid.value = 0
        raise EngineFault(f"the hardware stopped answering: no finish within the budget of "
                          f"{budget} cycles", *self._progress(ins, outs))

    @staticmethod
    def _progress(ins, outs):
        """(accepted/given per input stream, received/asked per output stream)."""
        return ({s.name: (s.pos, len(s.beats)) for s in ins},
                {s.name: (len(s.beats), s.count) for s in outs})


class _Source:
    """One input stream of a run: its beats, how many were taken, junk for idle cycles."""

    def __init__(self, dut, name, words, rng):
        self.name = name
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.beats = _to_ints(words)
        self.pos = 0
        mask = (1 << len(self.payload)) - 1
        self.junk = [v & mask for v in _to_ints(rng.integers(0, 2 ** 32, (256, words.shape[1]),
                                                               dtype=np.uint32))]
        self.offer = False

    @property
    def done(self) -> bool:
        return self.pos >= len(self.beats)

    def drive(self, offer: bool, cycle: int):
        self.offer = offer and not self.done
        self.valid.value = int(self.offer)
        self.payload.value = self.beats[self.pos] if self.offer else self.junk[cycle & 255]

    def sample(self):
        if self.offer and int(self.ready.value):
            self.pos += 1


class _Sink:
    """One output stream of a run: the beats collected, how many were asked for."""

    def __init__(self, dut, name, count):
        self.name, self.count = name, count
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.words = -(-len(self.payload) // 32)
        self.beats = []
        self.take = False

    @property
    def done(self) -> bool:
        return len(self.beats) >= self.count

    def sample(self) -> bool:
        """Record this cycle's handshake; True for a beat beyond the count asked for."""
        if self.take and int(self.valid.value):
            if self.done:
                return True
            self.beats.append(int(self.payload.value))
        return False
