"""Drive the kernel: validated config -> kernel arguments -> chunks of paths -> per-path arrays.

Chunks exist only for progress reporting and memory locality; they are always a whole
number of random blocks (``rng.BLOCK``), so results do not depend on them (docs/model.md, Reproducibility).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numba
import numpy as np

from sim.kernel import rng
from sim.config import Config, ConfigError, load_preset, sweep_dim_name
from sim.engine.hedge import Hedge, account_args, resolve_hedge
from sim.engine import memory
from sim.engine.importance import importance_tilt
from sim.kernel import MarketArgs, PathOutputs, simulate_chunk
from sim.kernel.args import N_POLICY
from sim.market.history import resolve_history
from sim.market.params import MarketParams
from sim.market.stress import MarketArrays, baseline_arrays, stressed_arrays

DEFAULT_CHUNK_BLOCKS = 64  # 65,536 paths per progress step


def market_args(mp: MarketParams, arrays: MarketArrays, report_steps: list[int], *, continuous: bool = False,
                antithetic: bool = False, is_theta: float = 0.0, is_log_h: float = np.inf) -> MarketArgs:
    model = {f.name: getattr(mp, f.name) for f in dataclasses.fields(mp)}
    model.update(model=int(mp.model), steps=int(mp.steps), funding_every=int(mp.funding_every),
                 f_w=np.ascontiguousarray(mp.f_w, dtype=np.float64),
                 chol=np.ascontiguousarray(mp.chol, dtype=np.float64))
    return MarketArgs(
        **model, log_drift=arrays.log_drift, vol=arrays.vol, basis_add=arrays.basis_add, f_pin=arrays.f_pin,
        report_steps=np.asarray(report_steps, dtype=np.int64), continuous=bool(continuous),
        antithetic=bool(antithetic), is_theta=float(is_theta), is_log_h=float(is_log_h),
        dt_days=mp.dt_years * 365.0,
    )


def allocate_outputs(paths: int, variants: int, save_paths: int, n_save: int, n_report: int = 1,
                     managed: bool = False) -> PathOutputs:
    """Per-path outputs in the narrowest type that keeps their meaning (flags bool,
    liquidation times float32: 1e-7 relative, i.e. < 1 s over 30 days). The policy outputs
    have rows only when a variant is managed."""
    shape = (paths, variants)
    return PathOutputs(
        index_at=np.empty((paths, n_report)), mark_T=np.empty(paths),
        liquidated=np.empty(shape, dtype=np.bool_),
        liquidation_time=np.empty(shape, dtype=np.float32),
        value_at=np.empty((paths, variants, n_report)), log_weight=np.empty(paths),
        funding=np.empty(shape), funding_usd=np.empty(shape),
        fees=np.empty(shape), min_margin_level=np.empty(shape), required_collateral=np.empty(shape),
        max_drawdown=np.empty(shape), policy=np.zeros((paths if managed else 0, variants, N_POLICY)),
        saved=np.full((save_paths, n_save, 4), np.nan),
    )


def memory_needed(cfg: Config, paths: int, variants: int, save_paths: int, n_save: int, n_report: int,
                  managed: bool, threads: int | None = None) -> memory.MemoryEstimate:
    """The peak memory of simulating ``paths`` paths (``sim.engine.memory``); one row of
    ``allocate_outputs`` gives the bytes per path, so the estimate follows its types."""
    row = allocate_outputs(1, variants, 0, n_save, n_report, managed=managed)
    n_threads = (max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)) if threads is not None
                 else numba.get_num_threads())
    return memory.estimate(paths=paths, variants=variants, report_times=n_report,
                           row_bytes=sum(x.nbytes for x in row[:-1]), policy_row_bytes=row.policy.nbytes,
                           saved_paths=save_paths, saved_points=n_save, steps=cfg.steps,
                           funding_every=cfg.funding_every, save_every=cfg.save_every, threads=n_threads)


def check_memory(cfg: Config, paths: int | None = None, *, first_path: int = 0, count: int | None = None,
                 threads: int | None = None, available: int | None = None) -> memory.MemoryEstimate:
    """The memory estimate of ``simulate(cfg, paths, first_path=, count=, threads=)``
    without simulating; ConfigError if it exceeds the available memory (what ``simulate``
    itself checks before allocating). A distributed run can call it per shard before
    submitting any."""
    paths = cfg.simulation.paths if paths is None else int(paths)
    count = paths - first_path if count is None else int(count)
    _, vcfgs = variants(cfg)
    acc = account_args([resolve_hedge(vc) for vc in vcfgs])
    save_k = max(0, min(cfg.simulation.save_paths, paths) - first_path)
    need = memory_needed(cfg, count, len(vcfgs), min(save_k, count), cfg.steps // cfg.save_every + 1,
                         len(cfg.report_steps), bool(acc.managed.any()), threads)
    memory.check(need, available, what=_memory_what(first_path, count, paths))
    return need


def _memory_what(first_path: int, count: int, paths: int) -> str:
    return "this run" if count == paths else f"this shard (paths {first_path:,} to {first_path + count:,} of {paths:,})"


def _chunk_view(out: PathOutputs, a: int, b: int) -> PathOutputs:
    return PathOutputs(*[x[a:b] for x in out[:-1]], out.saved)


@dataclass
class RawRun:
    """What the engine hands to ``results``: per-path arrays plus what produced them."""

    cfg: Config
    paths: int
    seed: int
    hedges: list[Hedge]  # one per variant, in C order of the sweep dims
    sweep: list[tuple[str, str, list]]  # (dim name, dotted key, values)
    report_steps: list[int]
    market: MarketParams
    outputs: PathOutputs
    save_every: int
    wall_time: float
    threads: int
    chunk_paths: int
    info: dict = field(default_factory=dict)


MARKET_SECTIONS = ("market", "funding", "basis", "simulation")


def variants(cfg: Config) -> tuple[list[tuple[str, str, list]], list[Config]]:
    """The sweep dims and one validated config per combination (C order). Every variant
    must share the base's market: only the hedge differs."""
    dims = [(sweep_dim_name(k), k, v) for k, v in cfg.sweep.items()]
    if not dims:
        return [], [cfg]
    base_cfg = cfg.without_sweep()
    swaps = any(k in ("position.contract", "exchange.preset") for _, k, _ in dims)
    if swaps and base_cfg.position.collateral_usd is None:
        kinds = set()
        for (_, k, vals) in dims:
            if k == "position.contract":
                kinds.update(vals)
            if k == "exchange.preset":
                kinds.update(load_preset(v).get("position", {}).get("contract", base_cfg.position.contract)
                             for v in vals)
        if len(kinds) > 1:
            raise ConfigError("sweep over inverse and linear contracts: position.collateral is BTC for inverse "
                              "and USD for linear; give the collateral as position.collateral_usd instead")
    out = []
    for combo in itertools.product(*[d[2] for d in dims]):
        over = {k: v for (_, k, _), v in zip(dims, combo)}
        label = ", ".join(f"{d}={v}" for (d, _, _), v in zip(dims, combo))
        try:
            vc = base_cfg.replace(over)
        except ConfigError as exc:
            raise ConfigError(f"sweep variant ({label}): {exc}") from None
        for section in MARKET_SECTIONS:
            a, b = base_cfg.to_dict()[section], vc.to_dict()[section]
            for key in a:
                if a[key] != b[key] and not (section == "funding" and key == "cap"):
                    raise ConfigError(f"sweep variant ({label}): changes {section}.{key} ({a[key]!r} -> {b[key]!r}); "
                                      "variants must share the simulated market (e.g. the same funding interval)")
        out.append(vc)
    return dims, out


def simulate(cfg: Config, paths: int | None = None, seed: int | None = None, *,
             chunk_paths: int | None = None, threads: int | None = None,
             progress: bool | Callable[[int, int], None] = False, stress: dict | None = None,
             first_path: int = 0, count: int | None = None, history=None) -> RawRun:
    """Run the kernel over all paths, for every sweep variant on the same market paths.
    ``stress`` is one ``[[stress]]`` scenario (not replay) applied to the market.
    ``progress=True`` shows a bar on stderr; a callable receives (paths_done, paths_total)
    after each chunk. ``first_path``/``count`` simulate only the shard of paths
    [first_path, first_path + count) of a run of ``paths`` paths (first_path a multiple of
    ``rng.BLOCK``): the rows are bitwise the same as in the full run (docs/model.md, Reproducibility).
    ``history``: the bootstrap model's sample in memory instead of market.history (a
    DataFrame of bars indexed by bar end time with ``close`` and optionally ``high``, a
    ``PriceData`` or a ``sim.market.history.History``; sliced to market.history_start/_end)."""
    paths = cfg.simulation.paths if paths is None else int(paths)
    seed = cfg.simulation.seed if seed is None else int(seed)
    if paths < 1:
        raise ConfigError(f"paths = {paths}: out of range; allowed [1, 1e9]")
    if seed < 0:
        raise ConfigError(f"seed = {seed}: out of range; allowed [0, 2^63)")
    count = paths - first_path if count is None else int(count)
    if first_path % rng.BLOCK or first_path < 0 or count < 1 or first_path + count > paths:
        raise ValueError(f"shard [{first_path}, {first_path + count}) of {paths} paths: the start must be a "
                         f"multiple of {rng.BLOCK} and the shard inside the run")
    dims, vcfgs = variants(cfg)
    hedges = []
    for vc in vcfgs:
        try:
            hedges.append(resolve_hedge(vc))
        except ConfigError as exc:
            if not dims:
                raise
            label = ", ".join(f"{d}={vc.to_dict()[k.split('.')[0]][k.split('.')[1]]}" for d, k, _ in dims)
            raise ConfigError(f"sweep variant ({label}): {exc}") from None
    sample = resolve_history(cfg, history) if cfg.market.model == "bootstrap" else None
    mp = MarketParams.from_config(cfg, history=sample)
    arrays = baseline_arrays(mp) if stress is None else stressed_arrays(cfg, mp, stress)
    report_steps = cfg.report_steps
    theta, log_h = importance_tilt(cfg, mp, hedges[0])
    mk = market_args(mp, arrays, report_steps, continuous=cfg.simulation.monitoring == "continuous",
                     antithetic=cfg.simulation.antithetic, is_theta=theta, is_log_h=log_h)
    acc = account_args(hedges)
    save_k = max(0, min(cfg.simulation.save_paths, paths) - first_path)
    save_every = cfg.save_every
    n_save = cfg.steps // save_every + 1
    managed = bool(acc.managed.any())
    need = memory_needed(cfg, count, len(hedges), min(save_k, count), n_save, len(report_steps), managed, threads)
    memory.check(need, what=_memory_what(first_path, count, paths))
    try:
        out = allocate_outputs(count, len(hedges), min(save_k, count), n_save, len(report_steps), managed=managed)
    except MemoryError:
        raise ConfigError(f"not enough memory for the per-path outputs: the run needs about "
                          f"{memory.gib(need.total)} ({need.describe()})") from None

    chunk_blocks = DEFAULT_CHUNK_BLOCKS if chunk_paths is None else max(1, -(-int(chunk_paths) // rng.BLOCK))
    chunk = chunk_blocks * rng.BLOCK
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    n_threads = numba.get_num_threads()

    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=count, unit="path", unit_scale=True, file=sys.stderr, desc="simulating",
                   dynamic_ncols=True, leave=False)
    t0 = time.perf_counter()
    end = first_path + count
    try:
        for first in range(first_path, end, chunk):
            last = min(end, first + chunk)
            b0 = first // rng.BLOCK
            nb = rng.n_blocks(last - first)
            gens = rng.chunk_generators(cfg.simulation.rng, seed, b0, nb, acc.default_on)
            simulate_chunk(first, end, np.uint64(seed), cfg.simulation.rng == "philox", *gens, mk, acc, save_every,
                           first_path, _chunk_view(out, first - first_path, last - first_path))
            if bar is not None:
                bar.update(last - first)
            elif callable(progress):
                progress(last - first_path, count)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    info = {"stress": stress} if stress else {}
    if sample is not None:
        info["history"] = sample.describe()
    if theta != 0.0:
        info["importance_tilt"] = float(theta) * math.sqrt(mp.steps)  # the config's unit: sigma sqrt(T)
    if count != paths:
        info["shard"] = (first_path, count)
    return RawRun(cfg=cfg, paths=count, seed=seed, hedges=hedges, sweep=dims, report_steps=report_steps,
                  market=mp, outputs=out, save_every=save_every, wall_time=wall, threads=n_threads,
                  chunk_paths=chunk, info=info)
