"""Distributed runs on Dask: shards of paths, one chunked ``.zarr`` store, resumable.

``hedgesim run CONFIG --workers N`` (a ``LocalCluster`` started for the run) or
``--scheduler tcp://HOST:PORT`` (an existing ``dask.distributed`` cluster):

- the paths are split into shards ``[first, first + count)`` of ``shard_paths`` paths, a
  multiple of the random block (``rng.BLOCK``), so each shard is bitwise the same rows as
  in a single-process run of the same config and seed (SPEC §7);
- each shard is one task ``engine.simulate(cfg, paths, seed, first_path=, count=)``; the
  worker writes its rows straight into the region of the store it owns (shards are whole
  zarr chunks, so no two tasks write the same chunk), then marks the shard done in the
  store's ``shard_done`` array. Tasks are idempotent: a shard recomputed after a worker
  died, or by a resumed run, writes the same bytes again;
- the store is built under ``OUT.partial`` with ``attrs["complete"] = false``; when every
  shard is marked done the summary is computed from the stored data
  (:mod:`sim.distributed.summary`), written, the marker array dropped,
  ``attrs["complete"] = true`` set last, and the store renamed to ``OUT``. So a store
  under the final name is always complete, and an interrupted run leaves ``OUT.partial``
  (never claiming completeness), which ``--resume`` completes by computing only the
  shards not marked done.

Dask is imported only here, and only when a run starts a client: the single-machine path
(``sim.run``) never imports it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from sim.kernel import rng
from sim.config.core import Config

PARTIAL_SUFFIX = ".partial"
MARKER = "shard_done"  # zarr array in the partial store: per shard its kernel seconds, 0 = not done
MAX_CHUNK_BYTES = 64 << 20  # per variable and zarr chunk
DEFAULT_MAX_SHARD = 1 << 18  # 262,144 paths: a few seconds of kernel per shard
LOCAL_SUMMARY_BYTES = 256 << 20  # smaller stores are summarised in this process (no task round trips)


from sim.errors import DistributedError, RunInterrupted  # noqa: E402,F401


# --------------------------------------------------------------------------- configs on workers


@dataclass(frozen=True)
class ConfigSpec:
    """A picklable recipe for a Config (Config itself does not pickle)."""

    user: dict
    source: str
    explicit: tuple

    @classmethod
    def of(cls, cfg: Config) -> "ConfigSpec":
        return cls(cfg.user_values(), cfg.source, tuple(sorted(cfg.explicit)))

    def build(self) -> Config:
        return Config.from_user(self.user, self.source, set(self.explicit))


# --------------------------------------------------------------------------- shards and chunks


def check_shard_paths(shard_paths: int) -> int:
    if shard_paths < rng.BLOCK or shard_paths % rng.BLOCK:
        raise DistributedError(f"--shard-paths {shard_paths}: must be a positive multiple of the random block, "
                               f"{rng.BLOCK} paths (e.g. {16 * rng.BLOCK:,} or {256 * rng.BLOCK:,})")
    return int(shard_paths)


def default_shard_paths(paths: int, workers: int) -> int:
    """About four shards per worker (load balance, little lost work on a failure), at
    most DEFAULT_MAX_SHARD paths, a whole number of blocks."""
    per = -(-paths // max(1, 4 * workers))
    blocks = max(1, -(-per // rng.BLOCK))
    return min(blocks * rng.BLOCK, DEFAULT_MAX_SHARD)


def shards_of(paths: int, shard_paths: int) -> list[tuple[int, int]]:
    return [(a, min(shard_paths, paths - a)) for a in range(0, paths, shard_paths)]


def chunk_paths_for(shard_paths: int, row_bytes: int) -> int:
    """Paths per zarr chunk: the largest whole number of blocks that divides the shard
    and keeps a chunk of the widest variable under MAX_CHUNK_BYTES."""
    blocks = shard_paths // rng.BLOCK
    best = 1
    for d in range(1, blocks + 1):
        if blocks % d == 0 and d * rng.BLOCK * row_bytes <= MAX_CHUNK_BYTES:
            best = d
    return best * rng.BLOCK


def partial_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


# --------------------------------------------------------------------------- the store


def _split(ds: xr.Dataset) -> tuple[list[str], list[str]]:
    per_path = [v for v in ds.data_vars if "path" in ds[v].dims]
    samples = [v for v in ds.data_vars if "sample" in ds[v].dims]
    return per_path, samples


def first_block(spec: "ConfigSpec", paths: int, seed: int) -> xr.Dataset:
    """The result of the first block of paths (a task, so the client needs no kernel):
    the variables, dims, dtypes and attrs of the whole result."""
    from sim import engine
    from sim import results

    cfg = spec.build()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with _KERNEL_LOCK:
            raw = engine.simulate(cfg, paths=paths, seed=seed, first_path=0, count=min(paths, rng.BLOCK), threads=1)
        return results.build_dataset(raw)


def create_store(store: Path, ds0: xr.Dataset, cfg: Config, paths: int, seed: int, shard_paths: int,
                 extra_attrs: dict) -> dict:
    """Write the metadata of the whole result under ``store`` (no per-path data yet):
    layout and attrs from the first block's result ``ds0``, per-path arrays chunked along
    ``path``."""
    import dask.array as da

    from sim import results

    per_path, samples = _split(ds0)
    row_bytes = max(int(np.prod(ds0[v].shape[1:], dtype=np.int64)) * ds0[v].dtype.itemsize for v in per_path)
    chunk = chunk_paths_for(shard_paths, row_bytes)
    n_samples = min(cfg.simulation.save_paths, paths)

    summary_coords = {"level", "quantile", "portfolio"}
    keep = [v for v in ds0.data_vars if v not in results.SUMMARY_VARS and v not in per_path and v not in samples]
    tmpl = ds0[keep].drop_vars([c for c in ds0.coords if c in summary_coords or c == "path" or c == "sample"],
                               errors="ignore")
    tmpl = tmpl.drop_vars([c for c in tmpl.coords if c in summary_coords], errors="ignore")
    tmpl = tmpl.assign_coords(xr.Coordinates(
        {"path": xr.Variable("path", da.arange(paths, chunks=chunk, dtype=np.int64))}, indexes={}))
    for v in per_path:
        x = ds0[v]
        shape = (paths,) + x.shape[1:]
        tmpl[v] = (x.dims, da.empty(shape, chunks=(chunk,) + x.shape[1:], dtype=x.dtype), x.attrs)
    if samples and n_samples > 0:
        tmpl = tmpl.assign_coords(sample=np.arange(n_samples), sample_time=ds0["sample_time"])
        for v in samples:
            x = ds0[v]
            shape = (n_samples,) + x.shape[1:]
            tmpl[v] = (x.dims, da.empty(shape, chunks=(min(chunk, n_samples),) + x.shape[1:], dtype=x.dtype),
                       x.attrs)
    n_shards = len(shards_of(paths, shard_paths))
    layout = {"paths": int(paths), "seed": int(seed), "shard_paths": int(shard_paths), "chunk_paths": int(chunk),
              "shards": n_shards, "config": cfg.to_json(), "rng_block_paths": rng.BLOCK,
              "per_path": per_path, "samples": samples if n_samples > 0 else []}
    attrs = dict(ds0.attrs)
    attrs.update({"paths": int(paths), "complete": False, "distributed": json.dumps(layout)})
    attrs.update(extra_attrs)
    attrs.pop("value_threshold_usd", None)  # set again with the summary
    tmpl.attrs = attrs
    # the shard markers: one chunk per shard, so workers never write the same chunk
    tmpl[MARKER] = (("shard",), da.zeros(n_shards, chunks=1, dtype=np.float64),
                    {"units": "s", "long_name": "kernel seconds of each stored shard (0 or NaN: not stored)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmpl.to_zarr(store, mode="w-", compute=False, consolidated=False)
    return layout


def read_layout(store: Path) -> dict:
    import zarr

    g = zarr.open_group(str(store), mode="r")
    return json.loads(g.attrs["distributed"])


def done_shards(store: Path) -> np.ndarray:
    """Kernel seconds per shard; 0 where the shard is not (yet) stored (never-written
    chunks read as the fill value, NaN or 0)."""
    import zarr

    done = np.asarray(zarr.open_array(store=str(store), path=MARKER, mode="r")[:], dtype=np.float64)
    return np.nan_to_num(done, nan=0.0)


def shard_arrays(ds: xr.Dataset, layout: dict) -> dict[str, np.ndarray]:
    """The arrays of one shard's Dataset that go into the store."""
    out = {v: ds[v].values for v in layout["per_path"] if v in ds}
    if "weight" in layout["per_path"] and "weight" not in ds:  # no tilt active on this shard: exp(0)
        out["weight"] = np.ones(ds.sizes["path"])
    if layout["samples"] and "sample" in ds.dims and ds.sizes["sample"] > 0:
        out.update({v: ds[v].values for v in layout["samples"]})
    return out


def write_shard(store: str, arrays: dict[str, np.ndarray], index: int, first: int, count: int, seconds: float,
                layout: dict) -> None:
    """Write one shard's rows (and its sample paths, if any) into their regions, then mark
    it done. Idempotent: the same shard always writes the same bytes.

    The arrays go straight into the zarr arrays that create_store laid out with xarray
    (same dtypes and dim order, so the bytes are those xarray would write); a shard is a
    whole number of chunks, so no two shards write the same chunk."""
    import zarr

    missing = [v for v in layout["per_path"] if v not in arrays]
    if missing:
        raise DistributedError(f"shard at path {first}: lacks {missing}")
    g = zarr.open_group(store, mode="r+")
    rows = slice(first, first + count)
    for v in layout["per_path"]:
        g[v][rows] = np.ascontiguousarray(arrays[v], dtype=g[v].dtype)
    g["path"][rows] = np.arange(first, first + count, dtype=np.int64)
    for v in layout["samples"]:
        if v in arrays:
            g[v][first:first + arrays[v].shape[0]] = np.ascontiguousarray(arrays[v], dtype=g[v].dtype)
    g[MARKER][index] = max(float(seconds), 1e-9)


_KERNEL_LOCK = threading.Lock()  # one kernel at a time per worker process (numba threads do the rest)


@functools.lru_cache(maxsize=1)
def _no_summary_kw() -> dict:
    """``build_dataset(raw, summary=False)`` where results offers it: a shard's own summary
    is thrown away (the run's summary comes from the whole store), and costs about as much
    as writing the shard."""
    import inspect

    from sim import results

    return {"summary": False} if "summary" in inspect.signature(results.build_dataset).parameters else {}



def run_shard(spec: ConfigSpec, paths: int, seed: int, index: int, first: int, count: int, threads: int | None,
              store: str | None, layout: dict) -> dict:
    """The task: simulate paths [first, first + count) and write them into ``store``
    (or return them, when ``store`` is None and the client writes)."""
    from sim import engine
    from sim import results

    t0 = time.perf_counter()
    cfg = spec.build()
    if threads is None:  # all of the worker's cores (a dask worker thread may default to 1)
        import numba

        threads = numba.config.NUMBA_NUM_THREADS
    with _KERNEL_LOCK:
        raw = engine.simulate(cfg, paths=paths, seed=seed, first_path=first, count=count, threads=threads)
    t1 = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ds = results.build_dataset(raw, **_no_summary_kw())
    arrays = shard_arrays(ds, layout)
    t2 = time.perf_counter()
    receipt = {"index": index, "first": first, "count": count, "seconds": float(raw.wall_time), "threads": raw.threads,
               "worker": f"{socket.gethostname()}:{os.getpid()}", "kernel_s": t1 - t0, "dataset_s": t2 - t1}
    if store is None:
        receipt["data"] = arrays
        return receipt
    write_shard(store, arrays, index, first, count, raw.wall_time, layout)
    receipt["write_s"] = time.perf_counter() - t2
    return receipt


# --------------------------------------------------------------------------- the run


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
    from sim.results import io

    say = log or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    if out.suffix != ".zarr":
        raise DistributedError(f"output path {str(out)!r}: distributed runs write a .zarr store")
    if out.exists() and not io.is_zarr_store(out):
        raise DistributedError(f"output path {str(out)!r}: exists and is not a result store; not replacing it")
    if sum(x is not None for x in (workers, scheduler, client)) != 1:
        raise DistributedError("give exactly one of --workers N or --scheduler ADDRESS")
    if workers is not None and workers < 1:
        raise DistributedError(f"--workers {workers}: must be at least 1")
    if cfg.simulation.target_se is not None:
        raise DistributedError("simulation.target_se (adaptive path counts) is not available for distributed runs; "
                               "give a path count instead")
    if shard_paths is not None:
        check_shard_paths(shard_paths)
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
        layout = _check_resume(part, cfg, paths, seed, shard_paths)
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
            final = _finish(part, out, client if not client_writes else None, layout, {
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
        try:
            stored = int((done_shards(part) > 0).sum())
        except Exception:  # noqa: BLE001 - cut short while the store was being laid out
            stored = -1
        if stored < 0:
            msg = f"interrupted before any shard was stored; remove {str(part)!r} if it is there"
        else:
            msg = (f"interrupted; {stored} of {len(shards_of(paths, shard_paths or paths))} shards are stored in "
                   f"{str(part)!r} (not complete); run the same command with --resume to finish it")
        raise RunInterrupted(msg) from None
    finally:
        if own_client and client is not None:
            _close(client, cluster)
    return final


def _check_resume(part: Path, cfg: Config, paths: int, seed: int, shard_paths: int | None) -> dict:
    try:
        layout = read_layout(part)
    except Exception as exc:  # noqa: BLE001 - any unreadable store
        raise DistributedError(f"{str(part)!r}: cannot be resumed ({type(exc).__name__}: {exc}); remove it") from None
    if layout["config"] != cfg.to_json() or layout["paths"] != paths or layout["seed"] != seed:
        raise DistributedError(f"--resume: {str(part)!r} was started with another config, path count or seed; "
                               "run the same command as before, or remove it to start again")
    if shard_paths and shard_paths != layout["shard_paths"]:
        raise DistributedError(f"--shard-paths {shard_paths}: the interrupted run used {layout['shard_paths']}; "
                               "a resumed run keeps its shards (leave --shard-paths out)")
    if layout.get("rng_block_paths") != rng.BLOCK:
        raise DistributedError(f"{str(part)!r}: written with another random block size; remove it")
    return layout


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


def _finish(part: Path, out: Path, client, layout: dict, run_attrs: dict, t_start: float) -> xr.Dataset:
    """Summary from the stored data, then the completion marker, then the final name."""
    import zarr

    from sim.results import io
    from sim.results.streamed import summarize_store

    per_path_bytes = _per_path_bytes(part, layout)
    summ, info = summarize_store(str(part), client=client if per_path_bytes > LOCAL_SUMMARY_BYTES else None)
    extra_attrs = dict(summ.attrs)
    g = zarr.open_group(str(part), mode="r")
    attrs = dict(g.attrs)  # to_zarr(mode="a") replaces the group's attrs with the Dataset's
    summ.attrs = {**attrs, "complete": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summ.to_zarr(part, mode="a", consolidated=False)
    shutil.rmtree(part / MARKER, ignore_errors=True)
    for tmp in part.rglob("*.partial"):  # temporaries of writes cut short by a killed worker
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
    g = zarr.open_group(str(part), mode="r+")
    attrs.update(run_attrs)
    attrs.update(extra_attrs)
    attrs.pop("complete", None)
    attrs["total_time_s"] = float(time.perf_counter() - t_start)  # cluster start to here, summary included
    attrs["summary_method"] = info["method"]
    attrs["summary_passes"] = int(info["passes"])
    if info["not_computed"]:
        attrs["summary_not_computed"] = ", ".join(info["not_computed"])
    g.attrs.update(attrs)
    g.attrs["complete"] = True  # written last: the store is complete from here on
    io.replace_atomically(part, out)
    return open_store(out)


def _per_path_bytes(part: Path, layout: dict) -> int:
    import zarr

    g = zarr.open_group(str(part), mode="r")
    return int(sum(np.prod(g[v].shape, dtype=np.int64) * g[v].dtype.itemsize for v in layout["per_path"]))


def open_store(path: str | Path) -> xr.Dataset:
    """A distributed result: per-path variables lazily loaded (no dask needed), everything
    else in memory. Refuses a store that is not complete."""
    p = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_zarr(p, consolidated=False, chunks=None)
    if ds.attrs.get("complete") is False:
        raise DistributedError(f"{str(p)!r}: not complete (an interrupted distributed run); resume it with --resume")
    small = [v for v in ds.variables if "path" not in ds[v].dims]
    for v in small:
        ds[v].load()
    return ds


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


__all__ = ["run", "open_store", "DistributedError", "RunInterrupted", "partial_path", "shards_of",
           "default_shard_paths", "check_shard_paths", "done_shards"]
