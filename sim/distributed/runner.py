"""A distributed run: the cluster, the submission of the shards, progress, interruption.

``run`` lays out the store (:mod:`sim.distributed.store`) from the first block of paths,
submits one task per shard not yet stored (:mod:`sim.distributed.tasks`), shows per-shard
progress, and completes the store when every shard is marked done. Ctrl-C cancels the
shards and leaves ``OUT.partial`` for ``--resume`` (docs/cluster.md).
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import xarray as xr

from sim.config import Config
from sim import engine
from sim.distributed.shards import check_shard_paths, default_shard_paths, partial_path, shards_of
from sim.distributed.store import check_resume, create_store, done_shards, finish, write_shard
from sim.distributed.tasks import ConfigSpec, first_block, run_shard
from sim.errors import DistributedError, RunInterrupted
from sim.results import io, lock


@dataclass
class Progress:
    """Per-shard progress with an ETA on stderr (tqdm), or a callable."""

    total: int
    done: int
    shards: int
    shards_done: int
    enabled: bool = True

    def __post_init__(self):
        self.bar = None
        self.threads = 0  # numba threads per task, as reported by the workers
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, unit="path", unit_scale=True, file=sys.stderr,
                            dynamic_ncols=True, leave=False, desc=self._desc(),
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} paths "
                                       "[{elapsed}<{remaining}, {rate_fmt}]")

    def _desc(self) -> str:
        return f"shards {self.shards_done}/{self.shards}"

    def shard(self, count: int) -> None:
        self.shards_done += 1
        self.done += count
        if self.bar is not None:
            self.bar.set_description_str(self._desc(), refresh=False)
            self.bar.update(count)

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _start_client(workers: int | None, scheduler: str | None, threads: int | None):
    """(client, cluster or None, threads per task, description)."""
    import logging

    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        raise DistributedError("distributed runs need dask: pip install 'hedgesim[distributed]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise DistributedError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        n = len(client.nthreads())
        if n == 0:
            client.wait_for_workers(1, timeout=60)
        return client, None, threads, f"scheduler {scheduler}"
    cores = os.cpu_count() or 1
    per = threads or max(1, cores // workers)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, worker_dashboard_address=None,
                           preload=["sim.distributed.worker_setup"])
    client = Client(cluster)
    return client, cluster, per, f"local cluster of {workers} worker process{'es' if workers > 1 else ''}"


def _check_request(cfg: Config, out: Path, workers, scheduler, client, shard_paths) -> None:
    """Refuse a run that cannot start, before any cluster is started."""
    if out.suffix != ".zarr":
        raise DistributedError(f"output path {str(out)!r}: distributed runs write a .zarr store")
    if sum(x is not None for x in (workers, scheduler, client)) != 1:
        raise DistributedError("give exactly one of --workers N or --scheduler ADDRESS")
    if workers is not None and workers < 1:
        raise DistributedError(f"--workers {workers}: must be at least 1")
    if cfg.simulation.target_se is not None:
        raise DistributedError("simulation.target_se (adaptive path counts) is not available for distributed runs; "
                               "give a path count instead")
    if shard_paths is not None:
        check_shard_paths(shard_paths)


def run(cfg: Config, out: str | Path, paths: int | None = None, seed: int | None = None, *,
        workers: int | None = None, scheduler: str | None = None, client=None, shard_paths: int | None = None,
        resume: bool = False, progress: bool = True, threads: int | None = None, client_writes: bool = False,
        on_shard: Callable[[dict], None] | None = None, log: Callable[[str], None] | None = None) -> xr.Dataset:
    """Simulate ``cfg`` on a Dask cluster into the ``.zarr`` store ``out``; returns the
    result (per-path variables lazily loaded, the summary in memory).

    ``workers``: start a LocalCluster of that many processes; ``scheduler``: address of an
    existing cluster; ``client``: an existing ``distributed.Client`` (kept open).
    ``client_writes``: workers return their rows and this process writes them (for
    clusters whose workers cannot reach ``out``'s file system); otherwise workers write
    into the store directly. ``on_shard`` is called with each shard's receipt."""
    say = log or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    _check_request(cfg, out, workers, scheduler, client, shard_paths)
    note = lambda s: say(f"hedgesim: note: {s}")  # noqa: E731
    with lock.acquire(out, note=note):  # .OUT.lock: one writer (or --resume) at a time
        if io.check_output(out):  # refuses anything but a result of hedgesim's own
            say(f"hedgesim: note: the existing result {str(out)!r} will be replaced")
        lock.sweep(out, note)  # e.g. .OUT.old-<pid>-<hex> of a run killed while it renamed its store
        return _run(cfg, out, paths, seed, workers, scheduler, client, shard_paths, resume, progress, threads,
                    client_writes, on_shard, say)


def _run(cfg, out, paths, seed, workers, scheduler, client, shard_paths, resume, progress, threads, client_writes,
         on_shard, say) -> xr.Dataset:
    cfg = cfg.effective(paths, seed)
    paths, seed = cfg.simulation.paths, cfg.simulation.seed
    part = partial_path(out)

    t_start = time.perf_counter()
    own_client = client is None
    cluster = None
    n_workers = workers
    if part.exists() and not resume:
        raise DistributedError(f"{str(part)!r}: an interrupted run's store is there; add --resume to complete it, "
                               "or remove it to start again")
    if resume and part.exists():
        layout = check_resume(part, cfg, paths, seed, shard_paths)
        shard_paths = layout["shard_paths"]
    else:
        if resume:
            say(f"hedgesim: note: nothing to resume at {str(part)!r}; starting the run")
        layout = None
    desc = "the given client"
    try:
        if own_client:
            client, cluster, threads, desc = _start_client(workers, scheduler, threads)
        if n_workers is None:
            n_workers = max(1, len(client.nthreads()))
        if layout is None:
            shard_paths = check_shard_paths(shard_paths) if shard_paths else default_shard_paths(paths, n_workers)
            # a shard that cannot fit is refused here, before any store or task (estimated on this machine)
            engine.check_memory(cfg, paths, first_path=0, count=min(shard_paths, paths), threads=1)
            part.parent.mkdir(parents=True, exist_ok=True)
            ds0 = client.submit(first_block, ConfigSpec.of(cfg), paths, seed, pure=False).result()
            layout = create_store(part, ds0, cfg, paths, seed, shard_paths, {"distributed_workers": int(n_workers)})
        shards = shards_of(paths, shard_paths)
        done = done_shards(part)
        todo = [i for i in range(len(shards)) if done[i] <= 0]
        if len(todo) < len(shards):
            say(f"hedgesim: resuming {str(part)!r}: {len(shards) - len(todo)} of {len(shards)} shards already "
                f"stored, computing {len(todo)}")
        say(f"hedgesim: {paths:,} paths in {len(shards)} shards of {shard_paths:,} on {desc} "
            f"({n_workers} worker{'s' if n_workers != 1 else ''}); writing {str(part)!r}")
        bar = Progress(total=paths, done=sum(shards[i][1] for i in range(len(shards)) if done[i] > 0),
                       shards=len(shards), shards_done=len(shards) - len(todo), enabled=progress)
        try:
            t_sim = time.perf_counter()
            _compute(client, cfg, paths, seed, shards, todo, threads, part, layout, client_writes, bar, on_shard)
            sim_wall = time.perf_counter() - t_sim
            bar.note("summary")
            final = finish(part, out, client if not client_writes else None, layout, {
                "wall_time_s": float(sim_wall),
                "path_steps_per_second": (float(sum(shards[i][1] for i in todo) * cfg.steps / sim_wall)
                                          if sim_wall > 0 else math.nan),
                "threads": int(threads or bar.threads),
                "distributed_workers": int(n_workers),
                "distributed_scheduler": desc,
                "distributed_resumed": bool(len(todo) < len(shards)),
            }, t_start)
        finally:
            bar.close()
    except KeyboardInterrupt:
        raise RunInterrupted(_interrupted_message(part, paths, shard_paths)) from None
    finally:
        if own_client and client is not None:
            _close(client, cluster)
    return final


def _interrupted_message(part: Path, paths: int, shard_paths: int | None) -> str:
    try:
        stored = int((done_shards(part) > 0).sum())
    except Exception:  # noqa: BLE001 - cut short while the store was being laid out
        stored = -1
    if stored < 0:
        return f"interrupted before any shard was stored; remove {str(part)!r} if it is there"
    return (f"interrupted; {stored} of {len(shards_of(paths, shard_paths or paths))} shards are stored in "
            f"{str(part)!r} (not complete); run the same command with --resume to finish it")


def _compute(client, cfg, paths, seed, shards, todo, threads, part, layout, client_writes, bar, on_shard) -> None:
    from distributed import as_completed

    spec = ConfigSpec.of(cfg)
    token = uuid.uuid4().hex[:8]
    store = None if client_writes else str(part.absolute())
    futures = []
    for i in todo:
        first, count = shards[i]
        futures.append(client.submit(run_shard, spec, paths, seed, i, first, count, threads, store, layout,
                                     key=f"hedgesim-shard-{token}-{i:06d}", priority=-i, retries=1, pure=False))
    try:
        for fut in as_completed(futures):
            receipt = fut.result()
            if client_writes:
                data = receipt.pop("data")
                write_shard(str(part), data, receipt["index"], receipt["first"], receipt["count"],
                            receipt["seconds"], layout)
            fut.release()
            bar.shard(receipt["count"])
            bar.threads = max(bar.threads, int(receipt.get("threads", 0)))
            if on_shard is not None:
                on_shard(receipt)
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    except Exception as exc:  # a task failed for good (e.g. workers kept dying: KilledWorker)
        client.cancel(futures)
        stored = int((done_shards(part) > 0).sum())
        raise DistributedError(f"a shard failed ({type(exc).__name__}: {exc}); {stored} of {len(shards)} shards are "
                               f"stored in {str(part)!r}; run the same command with --resume to finish it") from None
    missing = [i for i, s in enumerate(done_shards(part)) if s <= 0]
    if missing:  # pragma: no cover - would be a bug: every task marks its shard
        raise DistributedError(f"shards {missing[:5]} were not stored")


def _close(client, cluster) -> None:
    import logging

    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
                 "distributed.core", "distributed.client", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        client.close(timeout=10)
    except Exception:  # noqa: BLE001 - closing after an interrupt may fail half-way
        pass
    if cluster is not None:
        try:
            cluster.close(timeout=10)
        except Exception:  # noqa: BLE001
            pass
