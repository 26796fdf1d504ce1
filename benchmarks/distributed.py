"""Distributed runs against the single-process kernel: ``python -m benchmarks.distributed``.

Measures, on ``configs/default.toml`` (720 hourly steps):

- throughput (path-steps/s) of the single-process kernel (``engine.simulate``, all numba
  threads), and of ``sim.distributed.run`` on a local Dask cluster of 1 worker (all numba
  threads) and of 2 workers (cores / 2 numba threads each), counting the shard phase
  (``wall_time_s``: submit, kernel, region writes, markers) and end to end (plus the
  summary from the store and the final rename); workers are warmed up first and the
  cluster start is reported on its own;
- the overhead per shard: the same paths as one shard and as many shards of one block
  (1,024 paths) on one worker; (T_many - T_one) / (shards - 1).

Medians of ``--repeat`` runs. Prints a markdown table and writes
benchmarks/results/distributed.json and .md. Never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def _cluster(workers: int):
    import logging

    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, preload=["sim.distributed.worker_setup"])
    client = Client(cluster)
    return client, cluster, time.perf_counter() - t0


def _dist_run(cfg, client, paths: int, seed: int, shard_paths: int, threads: int, tmp: Path) -> dict:
    from sim.distributed import run

    out = tmp / f"d{time.monotonic_ns()}.zarr"
    t0 = time.perf_counter()
    ds = run(cfg, out, paths=paths, seed=seed, client=client, shard_paths=shard_paths, threads=threads,
             progress=False, log=lambda s: None)
    total = time.perf_counter() - t0
    res = {"shard_phase_s": float(ds.attrs["wall_time_s"]), "total_s": total,
           "summary_passes": int(ds.attrs["summary_passes"])}
    shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=400_000, help="paths of the throughput runs (default 400,000)")
    ap.add_argument("--overhead-paths", type=int, default=65_536, help="paths of the per-shard overhead runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--name", default="distributed", help="results file name under benchmarks/results/")
    args = ap.parse_args(argv)

    import numba

    import sim
    from sim import engine
    from sim.kernel import rng
    from sim.distributed import default_shard_paths

    from benchmarks.__main__ import machine

    cfg = sim.load_config(ROOT / "configs" / "default.toml")
    steps = cfg.steps
    cores = os.cpu_count() or 1
    n, seed, reps = args.paths, 1, args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="hedgesim-bench-"))
    rows = []
    try:
        # single process: the kernel alone, all numba threads
        engine.simulate(cfg, paths=rng.BLOCK, seed=seed)  # warm-up (numba cache, generators)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            engine.simulate(cfg, paths=n, seed=seed)
            times.append(time.perf_counter() - t0)
        t1 = statistics.median(times)
        rows.append({"setup": "single process (engine.simulate)", "workers": 0,
                     "threads_per_worker": numba.get_num_threads(), "shard_paths": n, "shards": 1,
                     "cluster_start_s": 0.0, "shard_phase_s": t1, "total_s": t1,
                     "path_steps_per_s": n * steps / t1, "end_to_end_path_steps_per_s": n * steps / t1})

        overhead = {}
        for workers in (1, 2):
            threads = max(1, cores // workers)
            client, cluster, start = _cluster(workers)
            try:
                shard = default_shard_paths(n, workers)
                _dist_run(cfg, client, 8 * rng.BLOCK * workers, seed, rng.BLOCK, threads, tmp)  # warm the workers
                res = [_dist_run(cfg, client, n, seed, shard, threads, tmp) for _ in range(reps)]
                ph = statistics.median(r["shard_phase_s"] for r in res)
                tot = statistics.median(r["total_s"] for r in res)
                rows.append({"setup": f"LocalCluster, {workers} worker{'s' if workers > 1 else ''}",
                             "workers": workers, "threads_per_worker": threads, "shard_paths": shard,
                             "shards": -(-n // shard), "cluster_start_s": start, "shard_phase_s": ph, "total_s": tot,
                             "path_steps_per_s": n * steps / ph, "end_to_end_path_steps_per_s": n * steps / tot})
                if workers == 1:  # per-shard overhead: one shard vs many one-block shards, 1 numba thread
                    m = args.overhead_paths  # (a one-block shard cannot use a second thread: keep that out)
                    one = statistics.median(_dist_run(cfg, client, m, seed, m, 1, tmp)["shard_phase_s"]
                                            for _ in range(reps))
                    many = statistics.median(_dist_run(cfg, client, m, seed, rng.BLOCK, 1, tmp)["shard_phase_s"]
                                             for _ in range(reps))
                    k = m // rng.BLOCK
                    overhead = {"paths": m, "one_shard_s": one, "shards": k, "many_shards_s": many,
                                "overhead_per_shard_s": (many - one) / (k - 1)}
            finally:
                client.close()
                cluster.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = rows[0]["path_steps_per_s"]
    for r in rows:
        r["speed_vs_single_process"] = r["path_steps_per_s"] / base
    mach = machine()
    out = {"machine": mach, "config": "configs/default.toml", "paths": n, "steps": steps, "repeat": reps,
           "rows": rows, "overhead": overhead, "date": time.strftime("%Y-%m-%d")}
    md = format_md(out)
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(md + "\n")
    return 0


def format_md(out: dict) -> str:
    m = out["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']}, Python {m['python']}", "",
             f"**Distributed runs** ({out['config']}, {out['paths']:,} paths x {out['steps']} steps, median of "
             f"{out['repeat']}; workers warmed up; shard phase = submit, kernel, region writes, markers; end to end "
             "adds the summary from the store and the rename)", "",
             "| setup | numba threads / worker | shards x paths | cluster start (s) | shard phase (s) | path-steps/s "
             "| vs single process | end to end (s) | end-to-end path-steps/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in out["rows"]:
        lines.append(f"| {r['setup']} | {r['threads_per_worker']} | {r['shards']} x {r['shard_paths']:,} | "
                     f"{r['cluster_start_s']:.2f} | {r['shard_phase_s']:.2f} | {r['path_steps_per_s'] / 1e6:.1f} M | "
                     f"{r['speed_vs_single_process']:.2f}x | {r['total_s']:.2f} | "
                     f"{r['end_to_end_path_steps_per_s'] / 1e6:.1f} M |")
    o = out["overhead"]
    if o:
        lines += ["", f"**Overhead per shard** (1 worker with 1 numba thread, {o['paths']:,} paths x {out['steps']} "
                  "steps): one shard "
                  f"{o['one_shard_s']:.2f} s, {o['shards']} shards of 1,024 paths {o['many_shards_s']:.2f} s: "
                  f"**{1000 * o['overhead_per_shard_s']:.0f} ms per shard** (task round trip, the shard's Dataset, "
                  "region writes of every per-path variable, marker)."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
