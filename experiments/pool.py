"""Training runs side by side in worker processes, one single-threaded run per task.

:func:`run_all` takes a list of runs, each the keyword arguments of
:func:`experiments.train.train_run` (``model``, ``policy``, ``seed``, ``config``, ``epochs``, ...)
with ``backend`` the name of the 4-bit backend it needs ("table", "reference" or None for
none; one backend of each kind is shared by the runs of a process), and returns their rows
in the order given. With ``jobs == 1`` the runs go one after another in this process; with more,
a pool of ``jobs`` processes runs them, each worker loading the data set and preparing its own
backend once. A run's row does not depend on ``jobs``: every run is seeded by its own ``seed``
and does its arithmetic single-threaded (one BLAS thread per worker), so only its epoch times
change with the load. The progress bar ticks once per finished epoch of any run. An exception
in a run (or an interrupt) ends the runs in flight and is raised here. docs/training.md, "Data
sets", has the wall times.
"""

from __future__ import annotations

import os
import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from golden.backend import NumpyBackend, TableBackend

#: GradScale exponents whose quantizer tables a backend builds before any epoch is timed.
TABLE_EXPS = range(0, 24)

_worker: dict = {}


def make_backend(kind: str):
    """A backend of ``kind``: "table" (its quantizer tables built up front, so no epoch is
    timed building them) or "reference" (golden's reference functions, bit-identical)."""
    if kind == "table":
        return TableBackend().prepare(TABLE_EXPS)
    if kind == "reference":
        return NumpyBackend()
    raise ValueError(f"backend must be 'table' or 'reference', not {kind!r}")


def _backend_of(task: dict, cache: dict):
    """Pop the task's backend name and return the process's backend of that kind (or None)."""
    kind = task.pop("backend")
    if kind is None:
        return None
    if kind not in cache:
        cache[kind] = make_backend(kind)
    return cache[kind]


class _Ticks:
    """The part of a tqdm bar a run drives, forwarded from a worker to the parent's bar."""

    def __init__(self, q):
        self._q = q

    def update(self, n=1):
        self._q.put(("update", n))

    def set_postfix_str(self, s):
        self._q.put(("postfix", s))


def _init(dataset, data_dir, q):
    from threadpoolctl import threadpool_limits

    from experiments.data import load

    threadpool_limits(1)
    q.put(("pid", os.getpid()))         # so that the parent can end this worker's run
    _worker.update(data=load(dataset, data_dir), backends={}, ticks=_Ticks(q))


def _run_in_worker(task):
    from experiments.train import train_run

    task = dict(task)
    backend = _backend_of(task, _worker["backends"])
    return train_run(data=_worker["data"], backend=backend, progress=_worker["ticks"], **task)


def run_all(tasks, *, jobs: int, data, data_dir=None, bar=None) -> list[dict]:
    """The rows of ``tasks`` (see the module docstring), in order, run by ``jobs`` processes
    (``data``: the loaded data set; workers load it again by its name and ``data_dir``)."""
    from experiments.train import train_run

    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, not {jobs!r}")
    if jobs == 1:
        from threadpoolctl import threadpool_limits

        backends, rows = {}, []
        with threadpool_limits(1):
            for task in tasks:
                task = dict(task)
                backend = _backend_of(task, backends)
                rows.append(train_run(data=data, backend=backend, progress=bar, **task))
        return rows
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        q = manager.Queue()
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init,
                                 initargs=(data.name, data_dir, q)) as pool:
            futures = [pool.submit(_run_in_worker, t) for t in tasks]
            pending, pids = set(futures), set()
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    _drain(q, bar, pids)
                    for f in done:
                        f.result()          # a failed run raises here and stops the pool
            except BaseException:
                # Stop now: cancel what has not started and end the runs in flight (leaving
                # the with-block alone would wait for them, minutes on the larger sets).
                # The workers are ended through their Process handles (never a stale pid); a
                # worker that has not reported yet has no run to end and leaves on shutdown.
                pool.shutdown(wait=False, cancel_futures=True)
                _drain(q, None, pids)
                for proc in mp.active_children():
                    if proc.pid in pids:
                        proc.terminate()
                raise
            _drain(q, bar, pids)
            return [f.result() for f in futures]


def _drain(q, bar, pids: set) -> None:
    """Forward the workers' progress to ``bar`` and collect their process ids in ``pids``."""
    while True:
        try:
            kind, value = q.get_nowait()
        except queue_mod.Empty:
            return
        if kind == "pid":
            pids.add(value)
        elif bar is not None:
            getattr(bar, kind if kind == "update" else "set_postfix_str")(value)
