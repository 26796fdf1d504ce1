"""One given market path through the kernel's account code: stress replays of a CSV price
path and historical replay windows (``sim.data.replay``) share ``run_accounts``."""

from __future__ import annotations

import time

import numpy as np

from sim.config import Config, format_duration
from sim.engine.hedge import Hedge, account_args, resolve_hedge
from sim.engine.simulate import RawRun, allocate_outputs, market_args, variants
from sim.kernel import replay_accounts
from sim.market.params import MarketParams
from sim.market.stress import baseline_arrays, replay_paths


def run_accounts(cfg: Config, hedges: list[Hedge], dims: list, s_path: np.ndarray, m_path: np.ndarray,
                 c_path: np.ndarray, f_path: np.ndarray, info: dict) -> RawRun:
    """Every hedge of ``hedges`` along one market path (index, mark, checked mark per step;
    funding per funding time), with exactly the simulation's account arithmetic.
    ``cfg`` must describe the path's grid (dt, horizon, spot)."""
    mp = MarketParams.from_config(cfg, with_sample=False)
    report_steps = cfg.report_steps
    mk = market_args(mp, baseline_arrays(mp), report_steps)
    acc = account_args(hedges)
    out = allocate_outputs(1, len(hedges), 0, 1, len(report_steps), managed=bool(acc.managed.any()))
    f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    t0 = time.perf_counter()
    replay_accounts(f64(s_path), f64(m_path), f64(c_path), f64(f_path), mk, acc, out)
    return RawRun(cfg=cfg, paths=1, seed=0, hedges=hedges, sweep=dims, report_steps=report_steps, market=mp,
                  outputs=out, save_every=1, wall_time=time.perf_counter() - t0, threads=1, chunk_paths=1,
                  info=info)


def replay(cfg: Config, path: str, check_path: np.ndarray | None = None) -> RawRun:
    """Run the config's hedge(s) along a price path read from a CSV (one 'path').
    ``check_path`` (same grid) is the mark checked for liquidation, e.g. bar highs."""
    dims, vcfgs = variants(cfg)
    s_path, m_path, f_path, steps = replay_paths(cfg, MarketParams.from_config(cfg, with_sample=False), path)
    # the hedge is sized and entered on the file's first price
    cfg = cfg.replace({"market.spot": float(s_path[0]), "basis.initial": 0.0,
                       "simulation.horizon": format_duration(steps * cfg.dt_seconds)})
    vcfgs = [vc.replace({"market.spot": float(s_path[0]), "basis.initial": 0.0,
                         "simulation.horizon": cfg.simulation.horizon}) for vc in vcfgs]
    hedges = [resolve_hedge(vc) for vc in vcfgs]
    return run_accounts(cfg, hedges, dims, s_path, m_path, m_path if check_path is None else check_path, f_path,
                        {"replay": str(path)})
