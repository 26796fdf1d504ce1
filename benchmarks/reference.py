"""A plain-numpy implementation of the same model and hedge account as ``sim.kernel``,
written to be as fast as numpy allows: the fair yardstick of ``make bench``.

Vectorised over blocks of paths (16,384 by default: every row of the working set fits
in the L2/L3 caches), looping over steps; all of a step's normals drawn in one call into
a preallocated array (``Generator.standard_normal(out=...)``), the bridge exponentials in
another; every update in place (``out=``), no temporary arrays in the step loop, no
Python per path; one ``numpy.random.Generator`` (PCG64), one thread. Jumps as in the
kernel: exponential waiting times per path, so a step without jumps costs one comparison.
``numpy_rng_floor`` times the same draws alone (numpy's own vectorised RNG throughput).

It is deliberately independent of the kernel (it shares only the config parsing and the
unit conversion of parameters), so it doubles as a statistical cross-check:
``tests/kernel/test_numpy_reference.py`` compares the two on the same config. Order of
events per step as in the kernel: market step; liquidation check on the (bridge maximum
of the) mark; funding to accounts still open; at T the close fee. Funding steps every dt
with the one-step exact OU transition (the kernel steps it once per funding interval;
both are exact for the same model).
"""

from __future__ import annotations

import time

import numpy as np

from sim.config import YEAR_SECONDS, Config, parse_duration
from sim.engine.simulate import resolve_hedge
from sim.market.ou import ou_coefficients
from sim.market.params import MarketParams

INVERSE = 0
BLOCK_PATHS = 16_384


def simulate_reference(cfg: Config, paths: int, seed: int, chunk: int = BLOCK_PATHS) -> dict[str, np.ndarray]:
    mp = MarketParams.from_config(cfg)
    h = resolve_hedge(cfg)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = {k: np.empty(paths) for k in ("index_T", "mark_T", "hedged_value", "funding", "fees",
                                        "required_collateral", "min_margin_level", "max_drawdown")}
    out["liquidated"] = np.empty(paths, dtype=bool)
    out["liquidation_time"] = np.empty(paths, dtype=np.float32)
    f_step = ou_coefficients(parse_duration(cfg.funding.half_life) / YEAR_SECONDS, cfg.funding.stationary_std,
                             cfg.dt_years)
    sim_ = _Block(mp, h, min(chunk, paths), f_step, cfg.simulation.monitoring == "continuous")
    for a in range(0, paths, chunk):
        b = min(paths, a + chunk)
        res = sim_.run(rng, b - a)
        for k, v in res.items():
            out[k][a:b] = v
    return out


def numpy_rng_floor(cfg: Config, paths: int, seed: int, chunk: int = BLOCK_PATHS) -> float:
    """Wall time (s) of the reference's draws alone for ``paths`` paths: numpy's vectorised
    RNG throughput on the same count of variates, same calls, same buffers."""
    mp = MarketParams.from_config(cfg)
    continuous = cfg.simulation.monitoring == "continuous"
    rng = np.random.Generator(np.random.PCG64(seed))
    n = min(chunk, paths)
    z = np.empty((_n_normals(mp), n))
    e = np.empty(n)
    t0 = time.perf_counter()
    for a in range(0, paths, chunk):
        m = min(paths, a + chunk) - a
        zz, ee = (z, e) if m == n else (np.empty((z.shape[0], m)), e[:m])
        for _ in range(mp.steps):
            rng.standard_normal(out=zz)
            if continuous:
                rng.standard_exponential(out=ee)
    return time.perf_counter() - t0


def _n_normals(mp) -> int:
    return 1 + (mp.f_sd > 0) + (mp.b_sd > 0)


class _Block:
    """Preallocated rows for one block of paths and the step loop over them."""

    def __init__(self, mp: MarketParams, h, n: int, f_step, continuous: bool):
        self.mp, self.h, self.n, self.continuous = mp, h, n, continuous
        self.f_a, self.f_sd = f_step
        self.z = np.empty((1 + (self.f_sd > 0) + (mp.b_sd > 0), n))
        names = ("log_s", "s", "f", "bs", "fund", "fund_liq", "req", "min_ml", "liq_t", "equity", "peak", "mdd",
                 "mark", "lm", "x", "t1", "t2", "check", "inv_c", "inv_m", "jump", "next_jump", "e")
        self.rows = {k: np.empty(n) for k in names}
        self.liq = np.empty(n, dtype=bool)
        self.mask = np.empty(n, dtype=bool)
        self.mask2 = np.empty(n, dtype=bool)

    def run(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        mp, h = self.mp, self.h
        r = {k: v[:n] for k, v in self.rows.items()}
        z = self.z if n == self.n else np.empty((self.z.shape[0], n))  # the last block: a contiguous array
        liq, mask, mask2 = self.liq[:n], self.mask[:n], self.mask2[:n]
        log_s, s, f, bs, fund, fund_liq = r["log_s"], r["s"], r["f"], r["bs"], r["fund"], r["fund_liq"]
        req, min_ml, liq_t, equity, peak, mdd = r["req"], r["min_ml"], r["liq_t"], r["equity"], r["peak"], r["mdd"]
        mark, lm, x, t1, t2, check = r["mark"], r["lm"], r["x"], r["t1"], r["t2"], r["check"]
        inv_c, inv_m, jump, next_jump, e = r["inv_c"], r["inv_m"], r["jump"], r["next_jump"], r["e"]
        inverse = h.kind == INVERSE
        size, entry, c0 = h.size, h.entry, h.collateral
        limits, rates, deds = h.tiers
        flat = len(limits) == 1
        ch = mp.chol
        vol, drift = mp.vol_sqrt_dt, mp.log_drift_dt
        step_var2 = 2.0 * (vol**2 + mp.b_sd**2 + 2 * ch[2, 0] * vol * mp.b_sd)
        fee_open = h.fee_rate * (size / entry if inverse else size * entry)
        base = c0 - fee_open - (size / entry if inverse else -size * entry)  # equity = base + size/M (inverse)
        cap = h.funding_cap
        log_s.fill(np.log(mp.spot))
        s.fill(mp.spot)
        f.fill(mp.f0)
        bs.fill(mp.b0)
        fund.fill(0.0)
        fund_liq.fill(0.0)
        req.fill(-np.inf)
        min_ml.fill(np.inf)
        liq.fill(False)
        liq_t.fill(np.nan)
        equity.fill(c0 - fee_open)
        peak[:] = (h.stack + equity) * s if inverse else h.stack * s + equity
        mdd.fill(0.0)
        np.log1p(bs, out=lm)
        lm += log_s
        jumps = mp.jump_rate_dt > 0
        if jumps:
            rng.standard_exponential(out=next_jump)
            next_jump /= mp.jump_rate_dt
        zf = 1 if self.f_sd > 0 else 0
        zb = zf + 1 if mp.b_sd > 0 else 0
        b_e1 = mp.b_sd * ch[2, 0]
        for i in range(1, mp.steps + 1):
            rng.standard_normal(out=z)  # all of the step's normals in one call
            e1 = z[0]
            np.multiply(e1, vol, out=x)
            x += drift
            log_s += x
            jumped = False
            if jumps:  # exact Poisson count by exponential waiting times (per path)
                hit = np.flatnonzero(next_jump <= i)
                if hit.size:
                    jumped = True
                    jump.fill(0.0)
                    while hit.size:
                        jump[hit] += mp.jump_mean + mp.jump_std * rng.standard_normal(hit.size)
                        next_jump[hit] += rng.standard_exponential(hit.size) / mp.jump_rate_dt
                        hit = hit[next_jump[hit] <= i]
                    log_s += jump
            np.exp(log_s, out=s)
            # funding and basis OU steps (in place)
            f -= mp.f_mean
            f *= self.f_a
            f += mp.f_mean
            if zf:
                np.multiply(e1, self.f_sd * ch[1, 0], out=t1)
                f += t1
                np.multiply(z[zf], self.f_sd * ch[1, 1], out=t1)
                f += t1
            bs -= mp.b_mean
            bs *= mp.b_a
            bs += mp.b_mean
            if mp.b_sd > 0:
                np.multiply(e1, b_e1, out=t1)
                bs += t1
                if zf:
                    np.multiply(z[zf], mp.b_sd * ch[2, 1], out=t1)
                    bs += t1
                np.multiply(z[zb], mp.b_sd * ch[2, 2], out=t1)
                bs += t1
            np.multiply(bs, s, out=mark)
            mark += s
            if self.continuous:  # Brownian-bridge maximum of the log mark, jumps at the end of the step
                np.log1p(bs, out=t2)
                t2 += log_s  # log mark after the step
                if jumped:
                    t2 -= jump
                np.subtract(t2, lm, out=t1)  # d
                t1 *= t1
                rng.standard_exponential(out=e)
                e *= step_var2
                t1 += e
                np.sqrt(t1, out=t1)
                t1 += lm
                t1 += t2
                t1 *= 0.5
                np.exp(t1, out=check)
                np.maximum(check, mark, out=check)
                if jumped:
                    t2 += jump
                lm[:] = t2
            else:
                check[:] = mark
            # account: position value, maintenance margin, PnL on the checked mark
            if inverse:
                np.divide(1.0, check, out=inv_c)
                np.multiply(inv_c, size, out=t1)  # position value at the checked mark
            else:
                np.multiply(check, size, out=t1)
            if flat:
                t1 *= rates[0]
                t1 -= deds[0]  # maintenance margin mm
            else:
                tt = np.minimum(np.searchsorted(limits, t1, side="left"), len(limits) - 1)
                t1 *= rates[tt]
                t1 -= deds[tt]
            # equity on the checked mark: eq = base + size/check + fund (inverse), base - size check + fund
            if inverse:
                np.multiply(inv_c, size, out=t2)
            else:
                np.multiply(check, -size, out=t2)
            t2 += base
            t2 += fund  # t2 = eq
            np.subtract(t1, t2, out=x)  # mm - eq = mm - pnl - c0
            x += c0
            np.maximum(req, x, out=req)
            funding_step = i % h.funding_every == 0
            if funding_step:  # pay = position value at the mark x clamped rate
                np.clip(f, -cap, cap, out=x)
                if inverse:
                    np.divide(x, mark, out=x)
                    x *= size
                else:
                    x *= mark
                    x *= size
            # margin level while open: eq / mm where mm > 0
            np.logical_not(liq, out=mask)
            np.greater(t1, 0.0, out=mask2)
            mask2 &= mask
            np.divide(t2, t1, out=jump if not jumped else e, where=mask2)
            np.minimum(min_ml, jump if not jumped else e, out=min_ml, where=mask2)
            # new liquidations: open, eq <= mm
            np.less_equal(t2, t1, out=mask2)
            mask2 &= mask
            if size > 0 and mask2.any():
                liq |= mask2
                liq_t[mask2] = i * mp.dt_years * 365.0
                fund_liq[mask2] = fund[mask2]
            if funding_step:
                fund += x
            # equity at the mark after funding (liquidated: 0), hedged value, drawdown
            if inverse:
                np.divide(size, mark, out=equity)
            else:
                np.multiply(mark, -size, out=equity)
            equity += base
            equity += fund
            np.copyto(equity, 0.0, where=liq)
            if inverse:
                np.add(equity, h.stack, out=x)
                x *= s
            else:
                np.multiply(s, h.stack, out=x)
                x += equity
            np.maximum(peak, x, out=peak)
            np.subtract(peak, x, out=t1)
            np.maximum(mdd, t1, out=mdd)
        still = ~liq
        fund_liq[still] = fund[still]
        close_fee = np.where(still, h.fee_rate * (size / mark if inverse else size * mark), 0.0)
        eq_t = np.where(still, equity - close_fee, 0.0)
        hedged = (h.stack + eq_t) * s if inverse else h.stack * s + eq_t
        return {
            "index_T": s.copy(), "mark_T": mark.copy(), "liquidated": liq.copy(),
            "liquidation_time": liq_t.astype(np.float32), "hedged_value": hedged, "funding": fund_liq.copy(),
            "fees": fee_open + close_fee,
            "required_collateral": req.copy() if size > 0 else np.full(n, np.nan),
            "min_margin_level": np.where(np.isfinite(min_ml), min_ml, np.nan), "max_drawdown": mdd.copy(),
        }
