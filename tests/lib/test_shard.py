"""Seed-block sharding: the partition, in-process runs, a loopback Dask cluster, failures named."""
import os
import subprocess
import sys

import pytest

from overparam import shard
from overparam.shard import ShardError, Task, run_tasks, seed_blocks


@pytest.fixture(autouse=True)
def _no_outer_scheduler(monkeypatch):
    """An address set in the caller's environment must not reroute these tests."""
    monkeypatch.delenv(shard.ADDRESS_ENV, raising=False)


@pytest.mark.parametrize("n_seeds, block", [(1, None), (10, None), (10, 3), (10, 5), (10, 10), (10, 64), (7, 1)])
def test_seed_blocks_partition_the_seeds_in_order(n_seeds, block):
    blocks = seed_blocks(n_seeds, block)
    assert blocks[0][0] == 0 and blocks[-1][1] == n_seeds
    assert all(b0[1] == b1[0] for b0, b1 in zip(blocks, blocks[1:]))        # consecutive, no gap
    size = n_seeds if block is None else block
    assert all(b - a == size for a, b in blocks[:-1]) and 0 < blocks[-1][1] - blocks[-1][0] <= size


def test_in_process_results_come_back_in_order():
    tasks = [Task(f"t{i}", seed_blocks, (i + 1, 2)) for i in range(5)]
    assert run_tasks("order", tasks) == [seed_blocks(i + 1, 2) for i in range(5)]


def test_in_process_failure_names_the_sweep_and_the_shard():
    tasks = [Task("seeds [0, 2)", seed_blocks, (2,)), Task("seeds [2, 4)", seed_blocks, (0,))]
    with pytest.raises(ShardError, match=r"^demo: shard seeds \[2, 4\) failed \(ValueError: n_seeds") as err:
        run_tasks("demo", tasks)
    assert isinstance(err.value.__cause__, ValueError) and err.value.shard == "seeds [2, 4)"


def test_workers_1_does_not_import_dask():
    code = ("import sys; from overparam import shard; "
            "assert shard.run_tasks('s', [shard.Task('a', pow, (2, 5))]) == [32]; "
            "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; assert not bad, bad")
    env = {k: v for k, v in os.environ.items() if k != shard.ADDRESS_ENV}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


@pytest.mark.parametrize("call, pattern", [
    (lambda: seed_blocks(0), r"^n_seeds\b"),
    (lambda: seed_blocks(5, 0), r"^block\b"),
    (lambda: seed_blocks(5, 2.5), r"^block\b"),
    (lambda: run_tasks("s", [Task("a", pow, (2, 2))], workers=0), r"^workers\b"),
    (lambda: run_tasks("s", [Task("a", pow, (2, 2))], address=""), r"^address\b"),
    (lambda: run_tasks("s", [Task("a", pow, (2, 2))], address=8786), r"^address\b"),
    (lambda: run_tasks("", [Task("a", pow, (2, 2))]), r"^name\b"),
    (lambda: run_tasks("s", []), r"^tasks\b"),
    (lambda: run_tasks("s", [pow]), r"^tasks\b"),
])
def test_bad_arguments_are_named(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_scheduler_address_from_the_environment(monkeypatch):
    monkeypatch.setenv(shard.ADDRESS_ENV, "   ")
    assert shard.resolve_address() is None          # blank counts as unset
    monkeypatch.setenv(shard.ADDRESS_ENV, "tcp://127.0.0.1:8786")
    assert shard.resolve_address() == "tcp://127.0.0.1:8786"
    assert shard.resolve_address("tcp://10.0.0.1:1") == "tcp://10.0.0.1:1"   # the argument wins


# --------------------------------------------------------------------------- on a loopback cluster
def test_local_cluster_runs_in_order_on_loopback_and_names_a_failed_shard():
    tasks = [Task(f"t{i}", seed_blocks, (i + 1, 2)) for i in range(6)]
    assert run_tasks("order", tasks, workers=2) == [seed_blocks(i + 1, 2) for i in range(6)]
    client = shard._client(2, None)
    addrs = list(client.scheduler_info()["workers"])
    assert len(addrs) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in addrs)
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    bad = tasks[:2] + [Task("seeds [4, 6)", seed_blocks, (0,))]
    with pytest.raises(ShardError, match=r"^demo: shard seeds \[4, 6\) failed \(ValueError: n_seeds"):
        run_tasks("demo", bad, workers=2)


def test_a_dead_worker_fails_the_sweep_naming_the_shard():
    """A worker process that dies (here: os._exit) ends the sweep with the shard named; this also runs
    the scheduler-address path. allowed-failures = 0 so that the scheduler does not retry the task."""
    dask = pytest.importorskip("dask")
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False})
    try:
        # the dying task first: a task queued on the same worker when it dies is killed with it
        tasks = [Task("seeds [0, 5)", os._exit, (3,)), Task("seeds [5, 10)", pow, (2, 3))]
        with pytest.raises(ShardError, match=r"^dies: shard seeds \[0, 5\) failed \(KilledWorker"):
            run_tasks("dies", tasks, address=cluster.scheduler_address)
    finally:
        shard._close(("remote", cluster.scheduler_address))
        cluster.close()


def test_an_unreachable_scheduler_is_named(monkeypatch):
    dask = pytest.importorskip("dask")
    import socket

    with socket.socket() as s:                      # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(shard.ADDRESS_ENV, f"tcp://127.0.0.1:{port}")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(RuntimeError, match=rf"^no Dask scheduler answered at 'tcp://127.0.0.1:{port}'"):
            run_tasks("s", [Task("a", pow, (2, 2))])


@pytest.mark.parametrize("workers", [1, 2])
def test_each_gathered_shard_is_reported_to_the_build_console(tmp_path, monkeypatch, workers):
    log = tmp_path / "progress.log"
    monkeypatch.setenv("OVERPARAM_PROGRESS", str(log))
    tasks = [Task(f"t{i}", seed_blocks, (i + 1, 2)) for i in range(3)]
    assert run_tasks("demo sweep", tasks, workers=workers) == [seed_blocks(i + 1, 2) for i in range(3)]
    lines = log.read_text().splitlines()
    assert [ln.strip().split(" (")[0] for ln in lines] == [f"demo sweep: {i}/3" for i in (1, 2, 3)], lines
