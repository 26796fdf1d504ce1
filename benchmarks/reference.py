"""A plain-numpy implementation of the same model and hedge account as ``sim.kernel``.

What a careful quant writes by hand: vectorised over paths, looping over steps, paths
processed in chunks so memory stays bounded, one ``numpy.random.Generator`` (PCG64) for
all draws. It is deliberately independent of the kernel (it shares only the config
parsing and the unit conversion of parameters), so it doubles as a statistical
cross-check: ``tests/test_reference.py`` compares the two on the same config.

Order of events per step as in ``sim/kernel.py``: market step; liquidation check on the
mark; funding to accounts still open; at T the close fee.
"""

from __future__ import annotations

import numpy as np

from sim.config import YEAR_SECONDS, Config, parse_duration
from sim.engine.simulate import resolve_hedge
from sim.market.ou import ou_coefficients
from sim.market.params import MarketParams

INVERSE = 0


def simulate_reference(cfg: Config, paths: int, seed: int, chunk: int = 65_536) -> dict[str, np.ndarray]:
    mp = MarketParams.from_config(cfg)
    h = resolve_hedge(cfg)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = {k: np.empty(paths) for k in ("index_T", "mark_T", "hedged_value", "funding", "fees",
                                        "required_collateral", "min_margin_level", "max_drawdown")}
    out["liquidated"] = np.empty(paths, dtype=bool)
    out["liquidation_time"] = np.empty(paths, dtype=np.float32)
    # the reference steps funding every dt with the one-step exact OU transition (the
    # kernel steps it once per funding interval; both are exact for the same model)
    f_step = ou_coefficients(parse_duration(cfg.funding.half_life) / YEAR_SECONDS, cfg.funding.stationary_std,
                             cfg.dt_years)
    for a in range(0, paths, chunk):
        b = min(paths, a + chunk)
        res = _chunk(mp, h, rng, b - a, f_step, cfg.simulation.monitoring == "continuous")
        for k, v in res.items():
            out[k][a:b] = v
    return out


def _mm(value, h):
    limits, rates, deds = h.tiers
    if len(limits) == 1:
        return rates[0] * value - deds[0]
    t = np.minimum(np.searchsorted(limits, value, side="left"), len(limits) - 1)
    return rates[t] * value - deds[t]


def _chunk(mp: MarketParams, h, rng: np.random.Generator, n: int, f_step, continuous: bool) -> dict[str, np.ndarray]:
    f_a, f_sd = f_step
    # variance of the log mark over one step (diffusion + basis), for the bridge maximum
    step_var = mp.vol_sqrt_dt**2 + mp.b_sd**2 + 2 * mp.chol[2, 0] * mp.vol_sqrt_dt * mp.b_sd
    inverse = h.kind == INVERSE
    size, entry, c0 = h.size, h.entry, h.collateral
    ch = mp.chol
    log_s = np.full(n, np.log(mp.spot))
    f = np.full(n, mp.f0)
    bs = np.full(n, mp.b0)
    fee_open = h.fee_rate * (size / entry if inverse else size * entry)
    fund = np.zeros(n)
    fund_liq = np.zeros(n)
    req = np.full(n, -np.inf)
    min_ml = np.full(n, np.inf)
    liq = np.zeros(n, dtype=bool)
    liq_t = np.full(n, np.nan)
    equity = np.full(n, c0 - fee_open)
    s = np.full(n, mp.spot)
    peak = (h.stack + equity) * s if inverse else h.stack * s + equity
    mdd = np.zeros(n)
    jumps = mp.jump_rate_dt > 0
    for i in range(1, mp.steps + 1):
        e1 = rng.standard_normal(n)
        e2 = rng.standard_normal(n) if f_sd > 0 else 0.0
        e3 = rng.standard_normal(n) if mp.b_sd > 0 else 0.0
        dlog = mp.log_drift_dt + mp.vol_sqrt_dt * e1
        jump = np.zeros(n)
        if jumps:
            k = rng.poisson(mp.jump_rate_dt, n)
            hit = k > 0
            if hit.any():
                kk = k[hit]
                jump[hit] = kk * mp.jump_mean + np.sqrt(kk) * mp.jump_std * rng.standard_normal(kk.size)
        log_m_prev = log_s + np.log1p(bs)
        log_s += dlog + jump
        s = np.exp(log_s)
        f = mp.f_mean + (f - mp.f_mean) * f_a + f_sd * (ch[1, 0] * e1 + ch[1, 1] * e2)
        bs = mp.b_mean + (bs - mp.b_mean) * mp.b_a + mp.b_sd * (ch[2, 0] * e1 + ch[2, 1] * e2 + ch[2, 2] * e3)
        mark = s * (1.0 + bs)
        if continuous:  # Brownian-bridge maximum of the log mark within the step, jumps at its end
            x1d = np.log(mark) - jump
            d = x1d - log_m_prev
            top = 0.5 * (log_m_prev + x1d + np.sqrt(d * d - 2.0 * step_var * np.log1p(-rng.random(n))))
            check = np.maximum(np.exp(top), mark)
        else:
            check = mark
        pv = size / mark if inverse else size * mark
        pv_c = size / check if inverse else size * check
        mm = _mm(pv_c, h)
        pnl = (size * (1.0 / check - 1.0 / entry) if inverse else size * (entry - check)) + fund - fee_open
        np.maximum(req, mm - pnl, out=req)
        pay = 0.0
        if i % h.funding_every == 0:
            pay = pv * np.clip(f, -h.funding_cap, h.funding_cap)
            fund += pay
        open_ = ~liq
        eq = c0 + pnl
        eq_end = c0 + (size * (1.0 / mark - 1.0 / entry) if inverse else size * (entry - mark)) + fund - pay - fee_open
        with np.errstate(divide="ignore", invalid="ignore"):
            ml = np.where(open_ & (mm > 0), eq / mm, np.inf)
        np.minimum(min_ml, ml, out=min_ml)
        new = open_ & (eq <= mm) & (size > 0)
        if new.any():
            liq |= new
            liq_t[new] = i * mp.dt_years * 365.0
            fund_liq[new] = (fund - pay)[new] if np.ndim(pay) else fund[new]
        still = ~liq
        equity = np.where(still, eq_end + pay, 0.0)
        value = (h.stack + equity) * s if inverse else h.stack * s + equity
        np.maximum(peak, value, out=peak)
        np.maximum(mdd, peak - value, out=mdd)
    still = ~liq
    fund_liq[still] = fund[still]
    close_fee = np.where(still, h.fee_rate * (size / mark if inverse else size * mark), 0.0)
    eq_t = np.where(still, equity - close_fee, 0.0)
    hedged = (h.stack + eq_t) * s if inverse else h.stack * s + eq_t
    return {
        "index_T": s, "mark_T": mark, "liquidated": liq, "liquidation_time": liq_t.astype(np.float32),
        "hedged_value": hedged, "funding": fund_liq, "fees": fee_open + close_fee,
        "required_collateral": req if size > 0 else np.full(n, np.nan),
        "min_margin_level": np.where(np.isfinite(min_ml), min_ml, np.nan), "max_drawdown": mdd,
    }
