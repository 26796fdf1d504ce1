"""What runs on the workers: the first block (the layout of the result) and the shards.

Each shard is one task ``engine.simulate(cfg, paths, seed, first_path=, count=)``; the
worker writes its rows straight into the region of the store it owns, then marks the
shard done (:func:`sim.distributed.store.write_shard`). Tasks are idempotent: a shard
recomputed after a worker died, or by a resumed run, writes the same bytes again.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from sim import engine, results
from sim.config import Config
from sim.distributed.store import write_shard
from sim.kernel import rng

KERNEL_LOCK = threading.Lock()  # one kernel at a time per worker process (numba threads do the rest)


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


def first_block(spec: ConfigSpec, paths: int, seed: int) -> xr.Dataset:
    """The result of the first block of paths (a task, so the client needs no kernel):
    the variables, dims, dtypes and attrs of the whole result."""
    cfg = spec.build()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with KERNEL_LOCK:
            raw = engine.simulate(cfg, paths=paths, seed=seed, first_path=0, count=min(paths, rng.BLOCK), threads=1)
        return results.build_dataset(raw)


def shard_arrays(ds: xr.Dataset, layout: dict) -> dict[str, np.ndarray]:
    """The arrays of one shard's Dataset that go into the store."""
    out = {v: ds[v].values for v in layout["per_path"] if v in ds}
    if "weight" in layout["per_path"] and "weight" not in ds:  # no tilt active on this shard: exp(0)
        out["weight"] = np.ones(ds.sizes["path"])
    if layout["samples"] and "sample" in ds.dims and ds.sizes["sample"] > 0:
        out.update({v: ds[v].values for v in layout["samples"]})
    return out


@functools.lru_cache(maxsize=1)
def _no_summary_kw() -> dict:
    """``build_dataset(raw, summary=False)`` where results offers it: a shard's own summary
    is thrown away (the run's summary comes from the whole store), and costs about as much
    as writing the shard."""
    import inspect

    return {"summary": False} if "summary" in inspect.signature(results.build_dataset).parameters else {}


def run_shard(spec: ConfigSpec, paths: int, seed: int, index: int, first: int, count: int, threads: int | None,
              store: str | None, layout: dict) -> dict:
    """The task: simulate paths [first, first + count) and write them into ``store``
    (or return them, when ``store`` is None and the client writes)."""
    t0 = time.perf_counter()
    cfg = spec.build()
    if threads is None:  # all of the worker's cores (a dask worker thread may default to 1)
        import numba

        threads = numba.config.NUMBA_NUM_THREADS
    with KERNEL_LOCK:
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
