"""Seed-block sharding: run a sweep's blocks in this process or on a Dask ``distributed`` cluster.

A large sweep (many seeds, often many configurations) is cut into *tasks*, each a plain function call
on one block of seeds ``[a, b)``. :func:`run_tasks` runs them and returns their results in the order
given:

- ``workers=1`` and no scheduler address: one after another in this process (Dask is not imported);
- ``workers=N > 1``: on a ``LocalCluster`` of ``N`` single-threaded worker processes listening on the
  loopback interface only (started on first use and kept for this process: :func:`close_clusters`);
- an existing scheduler, given by ``address`` or the environment variable ``DASK_SCHEDULER_ADDRESS``
  (the Dask convention): its workers run the tasks, whatever ``workers`` says. They must have this
  library (the same version) installed.

**Same results, however run.** Every random draw comes from ``(seed, stream)`` (:mod:`overparam.rng`) and
a task gets only its arguments, so a task computes the same thing wherever it runs: the results
depend on the block partition (:func:`seed_blocks`), never on ``workers`` or on where the blocks ran.
The partition is part of the sweep's definition for a second reason: a batched computation's rows are
equal to the same rows computed in another batch only up to rounding (torch's vectorised ``atan2``,
for one, differs by an ulp from its scalar tail, so a row's last bits depend on where it sits in
memory), and gradient descent can amplify such differences. Bit-identical also assumes the same CPU
kind and torch build: ATen picks its vector kernels by CPU capability (``ATEN_CPU_CAPABILITY``).

**Failures.** Results are gathered in the driver; nothing is returned unless every task succeeded. A
task that raises, or whose worker dies (``KilledWorker``), raises :class:`ShardError` naming the sweep
and the shard (its label, e.g. the seed block), with the cause chained; the remaining tasks are
cancelled.
"""
from __future__ import annotations

import atexit
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .validate import check_int

__all__ = ["ADDRESS_ENV", "ShardError", "Task", "seed_blocks", "resolve_address", "run_tasks",
           "close_clusters"]

ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
_CLIENTS: dict = {}           # ("local", workers) or ("remote", address) -> (client, cluster or None)
_LOCK = threading.Lock()


class ShardError(RuntimeError):
    """A shard of a sweep failed; ``sweep`` and ``shard`` name it, ``__cause__`` is the error."""

    def __init__(self, sweep: str, shard: str, cause: BaseException):
        self.sweep, self.shard = sweep, shard
        super().__init__(f"{sweep}: shard {shard} failed ({type(cause).__name__}: {cause}); "
                         f"no results of the sweep were kept")


@dataclass(frozen=True)
class Task:
    """One call ``fn(*args, **kwargs)``; ``label`` names it in errors (e.g. ``"k=8 n=9 seeds [0, 50)"``).

    ``cost``: a relative cost estimate; on a cluster the costlier tasks are scheduled first (it never
    changes a result). ``fn`` must be importable by the workers (a module-level library function).
    """
    label: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    cost: float = 0.0


def seed_blocks(n_seeds: int, block: int | None = None) -> list[tuple[int, int]]:
    """``[(a, b), ...]``: seeds ``0 .. n_seeds - 1`` in consecutive blocks of ``block`` (the last may be
    shorter); one block of all seeds when ``block`` is None."""
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    block = n_seeds if block is None else check_int("block", block, min=1)
    return [(a, min(a + block, n_seeds)) for a in range(0, n_seeds, block)]


def resolve_address(address: str | None = None) -> str | None:
    """The scheduler address to use: ``address``, else ``$DASK_SCHEDULER_ADDRESS`` (blank counts as
    unset), else None."""
    if address is None:
        return os.environ.get(ADDRESS_ENV, "").strip() or None
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be a scheduler address such as 'tcp://host:8786', got {address!r}")
    return address.strip()


def _check_tasks(name, tasks) -> list:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string naming the sweep, got {name!r}")
    tasks = list(tasks) if isinstance(tasks, (list, tuple)) else tasks
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ValueError("tasks must be a non-empty list of overparam.shard.Task")
    return tasks


def run_tasks(name: str, tasks: Sequence[Task], *, workers: int = 1, address: str | None = None) -> list:
    """Run ``tasks`` and return their results in order (see the module docstring for where they run).

    ``name`` names the sweep in errors; ``workers`` (>= 1) sizes the local cluster; ``address`` (or
    ``$DASK_SCHEDULER_ADDRESS``) selects an existing scheduler instead. Raises :class:`ShardError`
    naming the first failed task. Each task's result, as it is gathered, is reported to the build's
    console (:func:`overparam.book.progress`, label ``name``; nothing outside a book build).
    """
    from .book import progress

    tasks = _check_tasks(name, tasks)
    workers = check_int("workers", workers, min=1)
    address = resolve_address(address)
    if address is None and workers == 1:
        out = []
        for t in progress(tasks, name):
            try:
                out.append(t.fn(*t.args, **t.kwargs))
            except Exception as exc:
                raise ShardError(name, t.label, exc) from exc
        return out
    return _run_on_cluster(name, tasks, _client(workers, address), progress)


def _run_on_cluster(name: str, tasks: list, client, progress) -> list:
    token = uuid.uuid4().hex[:8]
    futures = [client.submit(t.fn, *t.args, key=f"{name}-{i}-{token}", pure=False, priority=t.cost,
                             **t.kwargs) for i, t in enumerate(tasks)]
    out = []
    try:
        for t, fut in progress(list(zip(tasks, futures)), name):
            try:
                out.append(fut.result())
            except Exception as exc:
                raise ShardError(name, t.label, exc) from exc
    finally:
        if len(out) < len(tasks):
            client.cancel(futures)
        del futures
    return out


def _client(workers: int, address: str | None):
    """A cached ``distributed.Client``: on the scheduler at ``address``, or on a loopback LocalCluster."""
    key = ("remote", address) if address is not None else ("local", workers)
    with _LOCK:
        if key in _CLIENTS:
            client, _ = _CLIENTS[key]
            if client.status == "running":
                return client
            _close(key)
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:   # pragma: no cover - the book's requirements pin it
            raise ImportError("sharding over a Dask cluster needs `dask` and `distributed` "
                              "(pip install 'overparam[cluster]', or the book's requirements.txt)") from exc
        if address is not None:
            try:
                client, cluster = Client(address, set_as_default=False), None
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(f"no Dask scheduler answered at {address!r} (the address argument or "
                                   f"${ADDRESS_ENV}): {exc}") from exc
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   scheduler_kwargs={"dashboard": False})
            client = Client(cluster, set_as_default=False)
        _CLIENTS[key] = (client, cluster)
        return client


def _close(key) -> None:
    client, cluster = _CLIENTS.pop(key)
    client.close()
    if cluster is not None:
        cluster.close()


def close_clusters() -> None:
    """Close every client and local cluster this process opened (also done at exit)."""
    with _LOCK:
        for key in list(_CLIENTS):
            _close(key)


atexit.register(close_clusters)
