"""hedgesim benchmark suite: ``python -m benchmarks`` (or ``make bench``).

Sections (each can be run alone with ``--only``):
  main     the kernel, the fair numpy reference, the kernel's RNG floor (its draws alone)
           and numpy's (the reference's draws alone) on the same config, in one process,
           interleaved repetitions after a warm-up; median wall time, path-steps/s, the
           headline ratio kernel / reference, each implementation against its own RNG
           floor, peak traced memory; plus a statistical cross-check of the two
  threads  the kernel with 1 and 2 threads
  scaling  time and peak RSS against paths (10^4 .. 10^7) and steps (24 .. 2,880), each
           point in a fresh process
  compile  numba compile time with a cold and a warm cache, and the warm start overhead
           (config to first chunk)
  sweep    one run against a 20-variant sweep through sim.run (``benchmarks.sweep``)
  distributed  local Dask clusters against one process, and the cost per shard
           (``benchmarks.distributed``; needs the ``distributed`` extra)

At the end, the goals of the performance issues against what this run measured. With
``--docs`` (what ``make bench`` passes) the tables also replace the part of
docs/performance.md between ``<!-- bench:start -->`` and ``<!-- bench:end -->``.

Results are printed as markdown and written to benchmarks/results/<name>.json and .md.
The benchmark never fails on a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "numba": numba.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _traced(fn):
    """Run fn() under tracemalloc; return (wall seconds, peak traced MB, result)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    res = fn()
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, peak / 2**20, res


# --------------------------------------------------------------------------- main


def bench_main(config: str, paths: int, reps: int, threads: int, overrides: dict | None = None) -> dict:
    import sim
    from sim import engine

    from benchmarks.reference import numpy_rng_floor, simulate_reference
    from benchmarks.rng_floor import rng_floor, variates_per_path

    cfg = sim.load_config(config, overrides=overrides or {})
    steps = cfg.steps
    numba.set_num_threads(threads)
    # warm-up: compile / load caches, first-touch allocations
    engine.simulate(cfg, paths=2048, seed=0)
    simulate_reference(cfg, 2048, 0)
    rng_floor(cfg, 2048, 0)
    numpy_rng_floor(cfg, 2048, 0)

    fns = {
        "kernel": lambda seed: engine.simulate(cfg, paths=paths, seed=seed),
        "reference": lambda seed: simulate_reference(cfg, paths, seed),
        "rng_floor": lambda seed: rng_floor(cfg, paths, seed),
        "numpy_rng_floor": lambda seed: numpy_rng_floor(cfg, paths, seed),
    }
    own_floor = {"kernel": "rng_floor", "reference": "numpy_rng_floor", "rng_floor": "rng_floor",
                 "numpy_rng_floor": "numpy_rng_floor"}
    runs = {name: [] for name in fns}
    last = {}
    for r in range(reps):
        print(f"  main: repetition {r + 1}/{reps}", file=sys.stderr, flush=True)
        for name, fn in fns.items():
            t0 = time.perf_counter()
            last[name] = fn(r + 1)
            runs[name].append(time.perf_counter() - t0)
    # memory in separate, untimed runs (tracing slows the timed code down)
    mem = {name: _traced(lambda: fn(0))[1] for name, fn in fns.items()}
    med = {k: statistics.median(v) for k, v in runs.items()}
    rows = {}
    for name in runs:
        rows[name] = {
            "median_s": med[name], "all_s": runs[name],
            "path_steps_per_s": paths * steps / med[name],
            "ratio_to_reference": med["reference"] / med[name],
            "ratio_to_rng_floor": med[name] / med[own_floor[name]],
            "peak_traced_mb": mem[name],
        }
    # statistical cross-check of the last repetition (different random numbers)
    k = last["kernel"].outputs
    ref = last["reference"]
    check = {}
    for var, a in [("liquidated", k.liquidated[:, 0]), ("hedged_value", k.value_at[:, 0, -1]),
                   ("funding", k.funding[:, 0]), ("required_collateral", k.required_collateral[:, 0]),
                   ("max_drawdown", k.max_drawdown[:, 0]), ("index_T", k.index_at[:, -1])]:
        a = np.asarray(a, dtype=float)
        b = np.asarray(ref[var], dtype=float)
        se = float(np.sqrt(a.var() / a.size + b.var() / b.size))
        check[var] = {"kernel_mean": float(a.mean()), "reference_mean": float(b.mean()),
                      "z": float((a.mean() - b.mean()) / se) if se > 0 else 0.0}
    return {"config": config, "overrides": overrides or {}, "monitoring": cfg.simulation.monitoring,
            "rng": cfg.simulation.rng, "kernel_over_reference": med["reference"] / med["kernel"],
            "paths": paths, "steps": steps, "threads": threads, "reps": reps,
            "variates_per_path": variates_per_path(cfg), "rows": rows, "cross_check": check}


# --------------------------------------------------------------------------- threads


def bench_threads(config: str, paths: int, reps: int) -> dict:
    import sim
    from sim import engine

    cfg = sim.load_config(config)
    engine.simulate(cfg, paths=2048, seed=0)
    times = {1: [], 2: []}
    for r in range(reps):
        for t in (1, 2):
            numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
            t0 = time.perf_counter()
            engine.simulate(cfg, paths=paths, seed=r + 1)
            times[t].append(time.perf_counter() - t0)
    med = {t: statistics.median(v) for t, v in times.items()}
    return {"paths": paths, "steps": cfg.steps, "median_s": med,
            "path_steps_per_s": {t: paths * cfg.steps / m for t, m in med.items()},
            "speedup_2_over_1": med[1] / med[2]}


# --------------------------------------------------------------------------- subprocess points

_POINT = r"""
import json, resource, sys, time
import sim
from sim import engine
cfg = sim.load_config(sys.argv[1], overrides={"simulation.horizon": sys.argv[3]})
engine.simulate(cfg, paths=1024, seed=0)
t0 = time.perf_counter()
ds = sim.run(cfg, paths=int(sys.argv[2]), seed=1)
wall = time.perf_counter() - t0
raw_wall = float(ds.attrs["wall_time_s"])
print(json.dumps({"wall_s": wall, "kernel_s": raw_wall, "steps": cfg.steps,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _point(config: str, paths: int, horizon: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _POINT, config, str(paths), horizon], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_scaling(config: str, max_paths: int) -> dict:
    pts = []
    for n in [10**4, 10**5, 10**6, 10**7]:
        if n > max_paths:
            break
        print(f"  scaling: {n:,} paths x 720 steps", file=sys.stderr, flush=True)
        r = _point(config, n, "30d")
        pts.append({"paths": n, **r})
    stp = []
    for horizon in ["1d", "10d", "30d", "120d"]:  # 24 .. 2,880 hourly steps
        print(f"  scaling: 100,000 paths, horizon {horizon}", file=sys.stderr, flush=True)
        r = _point(config, 100_000, horizon)
        stp.append({"horizon": horizon, **r})
    return {"paths": pts, "steps": stp}


_COMPILE = r"""
import sys, time
t0 = time.perf_counter()
import sim
from sim import engine
cfg = sim.load_config(sys.argv[1])
t1 = time.perf_counter()
engine.simulate(cfg, paths=1024, seed=0)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def bench_compile(config: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        res = {}
        for label in ("cold", "warm"):
            out = subprocess.run([sys.executable, "-c", _COMPILE, config], cwd=ROOT, env=env,
                                 capture_output=True, text=True)
            imp, first = (float(x) for x in out.stdout.split())
            res[label] = {"import_s": imp, "config_to_first_chunk_s": first}
    return res


# --------------------------------------------------------------------------- report


def to_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']} ({m['numba_threads']} threads), "
             f"numpy {m['numpy']}, Python {m['python']}", ""]
    for key in ("main", "main_discrete"):
        if key not in res:
            continue
        b = res[key]
        lines += [f"**Full model, {b.get('monitoring', '')} monitoring** ({b['config']}"
                  + "".join(f", {k} = {v}" for k, v in b.get("overrides", {}).items())
                  + f"; {b['paths']:,} paths x {b['steps']} steps, {b['threads']} threads, "
                  f"median of {b['reps']} interleaved runs; {b['variates_per_path']:.0f} random variates per path)", "",
                  "| implementation | median wall (s) | path-steps/s | speed vs reference | time vs own RNG floor | peak traced memory (MB) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, r in b["rows"].items():
            lines.append(f"| {name} | {r['median_s']:.2f} | {r['path_steps_per_s'] / 1e6:.1f} M | "
                         f"{r['ratio_to_reference']:.2f}x | {r['ratio_to_rng_floor']:.2f} | {r['peak_traced_mb']:.0f} |")
        r = b["rows"]
        lines += ["", f"Kernel ({b.get('rng', 'philox')}) / fair numpy reference: **{b['kernel_over_reference']:.2f}x**; "
                  f"kernel / its RNG floor: {r['kernel']['ratio_to_rng_floor']:.2f}; reference / numpy's draws alone: "
                  f"{r['reference']['ratio_to_rng_floor']:.2f}. (The RNG floors: the same variates drawn and "
                  "nothing else; numpy's are one vectorised call per step.)"]
        lines += ["", "Cross-check, kernel vs reference (independent random numbers; z = difference / SE):", "",
                  "| variable | kernel mean | reference mean | z |", "|---|---:|---:|---:|"]
        for var, c in b["cross_check"].items():
            lines.append(f"| {var} | {c['kernel_mean']:.6g} | {c['reference_mean']:.6g} | {c['z']:+.2f} |")
        lines.append("")
    if "threads" in res:
        t = res["threads"]
        lines += [f"**Threads** ({t['paths']:,} paths x {t['steps']} steps)", "",
                  "| threads | median wall (s) | path-steps/s |", "|---:|---:|---:|"]
        for k in sorted(t["median_s"], key=int):
            lines.append(f"| {k} | {t['median_s'][k]:.2f} | {t['path_steps_per_s'][k] / 1e6:.1f} M |")
        lines += ["", f"2 threads vs 1: {t['speedup_2_over_1']:.2f}x", ""]
    if "scaling" in res:
        s = res["scaling"]
        lines += ["**Scaling in paths** (720 steps; fresh process each; wall includes result assembly)", "",
                  "| paths | kernel (s) | total (s) | path-steps/s | peak RSS (MB) |", "|---:|---:|---:|---:|---:|"]
        for p in s["paths"]:
            if "error" in p:
                lines.append(f"| {p['paths']:,} | failed: {p['error']} | | | |")
                continue
            lines.append(f"| {p['paths']:,} | {p['kernel_s']:.2f} | {p['wall_s']:.2f} | "
                         f"{p['paths'] * p['steps'] / p['kernel_s'] / 1e6:.1f} M | {p['peak_rss_mb']:.0f} |")
        lines += ["", "**Scaling in steps** (100,000 paths, hourly steps)", "",
                  "| steps | kernel (s) | path-steps/s | peak RSS (MB) |", "|---:|---:|---:|---:|"]
        for p in s["steps"]:
            if "error" in p:
                lines.append(f"| {p['horizon']} | failed: {p['error']} | | |")
                continue
            lines.append(f"| {p['steps']:,} | {p['kernel_s']:.2f} | {1e5 * p['steps'] / p['kernel_s'] / 1e6:.1f} M | "
                         f"{p['peak_rss_mb']:.0f} |")
        lines.append("")
    if "compile" in res:
        c = res["compile"]
        lines += ["**Compile and start-up** (fresh process, empty vs filled numba cache)", "",
                  "| cache | import (s) | config to first chunk (s) |", "|---|---:|---:|"]
        for k in ("cold", "warm"):
            lines.append(f"| {k} | {c[k]['import_s']:.2f} | {c[k]['config_to_first_chunk_s']:.2f} |")
        lines.append("")
    return "\n".join(lines)


# the goals (issues 3 and 16) and how to read each from the results
GOALS = [
    ("kernel >= 8x the fair numpy reference, continuous monitoring (aim 10x)",
     lambda r: r["main"]["kernel_over_reference"], lambda v: v >= 8.0, "{:.2f}x"),
    ("kernel within 1.3x of its own RNG floor",
     lambda r: r["main"]["rows"]["kernel"]["ratio_to_rng_floor"], lambda v: v <= 1.3, "{:.2f}x"),
    ("2 threads >= 1.8x one thread", lambda r: r["threads"]["speedup_2_over_1"], lambda v: v >= 1.8, "{:.2f}x"),
    ("10,000,000 paths x 720 steps under 2 GB peak",
     lambda r: max(p["peak_rss_mb"] for p in r["scaling"]["paths"] if p.get("paths") == 10**7) / 1024,
     lambda v: v < 2.0, "{:.2f} GB"),
    ("20-variant sweep <= 2.5x one run, end to end", lambda r: r["sweep"]["ratio"]["total"],
     lambda v: v <= 2.5, "{:.2f}x"),
    ("warm start (config to first chunk) < 1 s", lambda r: r["compile"]["warm"]["config_to_first_chunk_s"],
     lambda v: v < 1.0, "{:.2f} s"),
]


def goals_markdown(res: dict) -> str:
    lines = ["**Goals** (this run)", "", "| goal | measured | met |", "|---|---:|---|"]
    for text, get, ok, fmt in GOALS:
        try:
            v = get(res)
        except (KeyError, ValueError, TypeError):
            continue  # section not run
        lines.append(f"| {text} | {fmt.format(v)} | {'yes' if ok(v) else '**no**'} |")
    return "\n".join(lines) + "\n" if len(lines) > 4 else ""


def update_docs(md: str, page: Path = ROOT / "docs" / "performance.md") -> None:
    """Replace the part of the performance page between the bench markers by ``md``."""
    text = page.read_text(encoding="utf-8")
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    page.write_text(text[:i] + "\n" + md.rstrip() + "\n" + text[j:], encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/default.toml")
    p.add_argument("--paths", type=int, default=200_000, help="paths for the main comparison")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    p.add_argument("--max-paths", type=int, default=10**7, help="largest point of the path scaling")
    p.add_argument("--only", action="append", choices=["main", "threads", "scaling", "compile", "sweep", "distributed"])
    p.add_argument("--sweep-paths", type=int, default=200_000, help="paths of the sweep comparison")
    p.add_argument("--docs", action="store_true", help="write the tables into docs/performance.md (make bench)")
    p.add_argument("--name", default="latest", help="results file name (benchmarks/results/<name>.*)")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    sections = args.only or ["main", "threads", "scaling", "compile", "sweep", "distributed"]
    res = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if "compile" in sections:
        print("compile ...", file=sys.stderr)
        res["compile"] = bench_compile(args.config)
    if "main" in sections:
        print("main ...", file=sys.stderr)
        res["main"] = bench_main(args.config, args.paths, args.reps, args.threads)
        if res["main"]["monitoring"] == "continuous":  # the same with liquidation checked at the steps only
            print("main, discrete monitoring ...", file=sys.stderr)
            res["main_discrete"] = bench_main(args.config, args.paths, args.reps, args.threads,
                                              overrides={"simulation.monitoring": "discrete"})
    if "threads" in sections:
        print("threads ...", file=sys.stderr)
        res["threads"] = bench_threads(args.config, args.paths, args.reps)
    if "scaling" in sections:
        print("scaling ...", file=sys.stderr)
        res["scaling"] = bench_scaling(args.config, args.max_paths)
    extra = []
    if "sweep" in sections:
        print("sweep ...", file=sys.stderr)
        from benchmarks import sweep

        with contextlib.redirect_stdout(io.StringIO()):  # its table is printed below, with the rest
            sweep.main(args.sweep_paths, args.reps)
        res["sweep"] = json.loads((RESULTS / "sweep.json").read_text())
        extra.append((RESULTS / "sweep.md").read_text())
    if "distributed" in sections:
        print("distributed ...", file=sys.stderr)
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            extra.append("**Distributed runs**: not measured (install the `distributed` extra: "
                         "`pip install -e .[distributed]`).\n")
        else:
            from benchmarks import distributed

            with contextlib.redirect_stdout(io.StringIO()):
                distributed.main([])
            res["distributed"] = json.loads((RESULTS / "distributed.json").read_text())
            md_d = (RESULTS / "distributed.md").read_text()
            extra.append(md_d.split("\n", 2)[2] if md_d.startswith("Machine:") else md_d)
    md = "\n".join([to_markdown(res)] + extra + [goals_markdown(res)]).rstrip() + "\n"
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(res, indent=2, default=str))
    (RESULTS / f"{args.name}.md").write_text(md + "\n")
    print(f"\nwritten: benchmarks/results/{args.name}.json and .md", file=sys.stderr)
    if args.docs:
        update_docs(md)
        print("written: docs/performance.md (between the bench markers)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
