"""Kou double-exponential jump diffusion: closed-form moments and the Kou-Wang (2003)
first-passage probability (numerical Laplace inversion) in sim.analytic, checked against
the GBM closed form and against brute-force Monte Carlo written here in plain numpy."""

import math

import numpy as np
import pytest
from scipy.stats import kstat

from sim.market.gbm import gbm_hit_probability
from sim.market.kou import (
    euler_laplace_inversion, kou_compensator, kou_first_passage_transform, kou_hit_probability, kou_log_cumulants,
    kou_log_moments,
)

# A BTC-like month: sigma 60 %, 50 jumps a year, up jumps mean 3 %, down jumps mean 4 %.
KOU = dict(mu=0.0, sigma=0.6, horizon_years=30 / 365, jump_intensity=50.0, p_up=0.5,
           up_mean=0.03, down_mean=0.04)


def _args(p):
    return (p["mu"], p["sigma"], p["horizon_years"], p["jump_intensity"], p["p_up"], p["up_mean"], p["down_mean"])


def _nu(p):
    comp = kou_compensator(p["jump_intensity"], p["p_up"], p["up_mean"], p["down_mean"])
    return p["mu"] - comp - 0.5 * p["sigma"] ** 2


def _kou_jumps(rng, n, p):
    """n exact Kou log-jumps: +Exp(mean up_mean) w.p. p_up, else -Exp(mean down_mean)."""
    up = rng.random(n) < p["p_up"]
    e = rng.standard_exponential(n)
    return np.where(up, e * p["up_mean"], -e * p["down_mean"])


# ---------------------------------------------------------------------------- moments

def test_compensator_matches_eta_form():
    lam, p, mu_u, mu_d = 7.0, 0.3, 0.05, 0.08
    eu, ed = 1 / mu_u, 1 / mu_d
    k = p * eu / (eu - 1) + (1 - p) * ed / (ed + 1) - 1
    assert kou_compensator(lam, p, mu_u, mu_d) == pytest.approx(lam * k, rel=1e-12)
    assert kou_compensator(0.0, p, mu_u, mu_d) == 0.0
    with pytest.raises(ValueError):
        kou_compensator(1.0, 0.5, 1.0, 0.1)  # E[e^Y] infinite


def test_log_moments_and_cumulants_against_simulation():
    p = dict(mu=0.2, sigma=0.5, horizon_years=0.25, jump_intensity=12.0, p_up=0.35, up_mean=0.06, down_mean=0.09)
    n = 400_000
    rng = np.random.default_rng(20240605)
    t, lam = p["horizon_years"], p["jump_intensity"]
    n_up = rng.poisson(lam * p["p_up"] * t, n)
    n_dn = rng.poisson(lam * (1 - p["p_up"]) * t, n)
    # a sum of k Exp(mean m) is Gamma(k, m); k = 0 gives 0
    up = np.where(n_up > 0, rng.gamma(np.maximum(n_up, 1), p["up_mean"]), 0.0)
    dn = np.where(n_dn > 0, rng.gamma(np.maximum(n_dn, 1), p["down_mean"]), 0.0)
    x = _nu(p) * t + p["sigma"] * math.sqrt(t) * rng.standard_normal(n) + up - dn

    k1, k2, k3, k4 = kou_log_cumulants(*_args(p), order=4)
    mean, var = kou_log_moments(*_args(p))
    assert (mean, var) == (k1, k2)
    assert abs(x.mean() - mean) <= 4 * math.sqrt(var / n)
    se_var = math.sqrt((k4 + 2 * k2**2) / n)  # Var(sample variance) ~ (mu4 - sigma^4)/n, mu4 = k4 + 3 k2^2
    assert abs(x.var() - var) <= 4 * se_var
    # 3rd and 4th cumulants: k-statistics over 20 batches
    for order, kappa in [(3, k3), (4, k4)]:
        ks = np.array([kstat(b, order) for b in np.split(x, 20)])
        assert abs(ks.mean() - kappa) <= 4 * ks.std(ddof=1) / math.sqrt(ks.size), (order, ks.mean(), kappa)
    assert k3 < 0  # heavier down side: the check above has power
    # the compensator keeps E[S_T/S_0] = e^{mu T}
    s = np.exp(x)
    assert abs(s.mean() - math.exp(p["mu"] * t)) <= 4 * s.std() / math.sqrt(n)


# ---------------------------------------------------------------------- GBM limit

GBM_CASES = [  # (sigma, mu, T, barrier/spot)
    (0.8, 0.0, 30 / 365, 1.10),
    (0.8, 0.0, 30 / 365, 1.60),
    (0.5, 0.10, 0.25, 1.30),
    (0.3, -0.30, 1.0, 1.05),
    (1.2, 0.50, 7 / 365, 1.03),
    (0.2, 0.05, 2.0, 2.50),
    (0.6, 0.0, 1 / 365, 1.001),
]


@pytest.mark.parametrize("sigma, mu, t, ratio", GBM_CASES)
def test_no_jumps_equals_gbm_closed_form(sigma, mu, t, ratio):
    spot = 30_000.0
    exact = gbm_hit_probability(spot, spot * ratio, mu, sigma, t)
    # lam = 0: quadratic (GBM) root path of the inversion
    assert kou_hit_probability(spot, spot * ratio, mu, sigma, t, 0.0, 0.5, 0.03, 0.04) == pytest.approx(exact, abs=1e-6)
    # lam -> 0 with both jump sides present: quartic path, beta_2 -> eta_up
    tiny = kou_hit_probability(spot, spot * ratio, mu, sigma, t, 1e-9, 0.5, 0.03, 0.04)
    assert tiny == pytest.approx(exact, abs=1e-6)
    # down-crossing (reflection) against the GBM closed form for a barrier below spot
    down = gbm_hit_probability(spot, spot / ratio, mu, sigma, t)
    assert kou_hit_probability(spot, spot / ratio, mu, sigma, t, 0.0, 0.5, 0.03, 0.04,
                               direction="down") == pytest.approx(down, abs=1e-6)


def test_transform_limits_and_roots():
    alpha = np.array([0.5, 3.0, 40.0, 2.0 + 15.0j])
    p = dict(KOU)
    b = 0.1
    # b = 0: tau = 0
    np.testing.assert_allclose(kou_first_passage_transform(alpha, 0.0, p["mu"], p["sigma"], p["jump_intensity"],
                                                           p["p_up"], p["up_mean"], p["down_mean"]), 1.0, atol=1e-12)
    # lam -> 0: GBM transform e^{-b beta}, beta = (-nu + sqrt(nu^2 + 2 sigma^2 alpha)) / sigma^2
    sig, mu = p["sigma"], p["mu"]
    nu = mu - 0.5 * sig**2
    beta = (-nu + np.sqrt(nu**2 + 2 * sig**2 * alpha)) / sig**2
    got = kou_first_passage_transform(alpha, b, mu, sig, 1e-10, 0.5, 0.03, 0.04)
    np.testing.assert_allclose(got, np.exp(-b * beta), rtol=1e-8)
    # with jumps, real alpha: a real transform in (0, 1), decreasing in alpha
    tr = kou_first_passage_transform(alpha[:3], b, mu, sig, p["jump_intensity"], p["p_up"], p["up_mean"],
                                     p["down_mean"])
    assert np.all(np.abs(tr.imag) < 1e-14) and np.all(np.diff(tr.real) < 0) and np.all((0 < tr.real) & (tr.real < 1))


def test_euler_inversion_known_transform():
    # L[1 - e^{-t}] = 1/s - 1/(s+1)
    for t in [0.01, 0.5, 3.0]:
        got = euler_laplace_inversion(lambda s: 1 / s - 1 / (s + 1), t)
        assert got == pytest.approx(1 - math.exp(-t), abs=1e-7)


def test_inversion_settings_agree_with_jumps():
    """Default Euler (a = 18.4, 15 + 11 terms) vs a = 25, 40 + 20 terms."""
    cases = [dict(KOU), dict(KOU, horizon_years=1 / 365, jump_intensity=200.0, p_up=0.6, up_mean=0.02),
             dict(mu=0.1, sigma=0.3, horizon_years=0.5, jump_intensity=3.0, p_up=1.0, up_mean=0.5, down_mean=0.0)]
    for p in cases:
        for ratio in [1.02, 1.15, 1.5]:
            a = kou_hit_probability(100.0, 100.0 * ratio, *_args(p))
            b = kou_hit_probability(100.0, 100.0 * ratio, *_args(p), a=25.0, n_terms=40, n_euler=20)
            assert a == pytest.approx(b, abs=1e-7)


# ---------------------------------------------------------------- brute-force Monte Carlo

def _fine_grid_hit(rng, b, p, n_paths, n_steps, chunk=500):
    """Per-path P(sup X >= b | grid) from an Euler grid in log space (exact for the
    diffusion increments), exact Kou jumps (Poisson count, positions uniform over the steps,
    applied at the end of their step) and a Brownian-bridge crossing probability
    exp(-2 (b - x0)(b - x1) / (sigma^2 dt)) for the diffusion part of each step."""
    t, sig = p["horizon_years"], p["sigma"]
    dt = t / n_steps
    s2dt = sig**2 * dt
    out = np.empty(n_paths)
    for start in range(0, n_paths, chunk):
        m = min(chunk, n_paths - start)
        d = _nu(p) * dt + sig * math.sqrt(dt) * rng.standard_normal((m, n_steps))
        jumps = np.zeros((m, n_steps))
        rows = np.repeat(np.arange(m), rng.poisson(p["jump_intensity"] * t, m))
        np.add.at(jumps, (rows, rng.integers(0, n_steps, rows.size)), _kou_jumps(rng, rows.size, p))
        x = np.cumsum(d + jumps, axis=1)
        x0 = np.concatenate([np.zeros((m, 1)), x[:, :-1]], axis=1)  # start of step
        x1 = x0 + d  # end of the diffusion part, before the step's jumps
        on_grid = (x1 >= b).any(axis=1) | (x >= b).any(axis=1)
        g = (b - x0) * (b - x1)
        near = (g < 25 * s2dt) & (x0 < b) & (x1 < b)  # elsewhere the bridge probability is < e^-50
        log_surv = np.zeros((m, n_steps))
        log_surv[near] = np.log1p(-np.exp(-2.0 * g[near] / s2dt))
        out[start:start + m] = np.where(on_grid, 1.0, -np.expm1(log_surv.sum(axis=1)))
    return out


def _event_hit(rng, b, p, n_paths, sign=1.0):
    """Exact per-path P(sup sign*X >= b | jump times, pre/post-jump values): Brownian motion
    with drift between the (exactly simulated) jump times, Brownian-bridge crossing
    probability on each inter-jump segment, a jump across b counts."""
    t, sig, nu = p["horizon_years"], p["sigma"], _nu(p)
    nj = rng.poisson(p["jump_intensity"] * t, n_paths)
    kmax = int(nj.max())
    idx = np.arange(kmax)[None, :]
    times = np.sort(np.where(idx < nj[:, None], rng.random((n_paths, kmax)) * t, t), axis=1)
    seg = np.diff(np.concatenate([np.zeros((n_paths, 1)), times, np.full((n_paths, 1), t)], axis=1), axis=1)
    z = np.zeros(n_paths)
    log_surv = np.zeros(n_paths)
    hit = np.zeros(n_paths, dtype=bool)
    for j in range(kmax + 1):
        h = seg[:, j]
        z1 = z + sign * (nu * h + sig * np.sqrt(h) * rng.standard_normal(n_paths))
        ok = (z < b) & (z1 < b) & (h > 0)
        pr = np.zeros(n_paths)
        pr[ok] = np.exp(-2.0 * (b - z[ok]) * (b - z1[ok]) / (sig**2 * h[ok]))
        log_surv += np.log1p(-pr)
        hit |= z1 >= b
        if j < kmax:
            z1 = z1 + sign * np.where(j < nj, _kou_jumps(rng, n_paths, p), 0.0)
            hit |= z1 >= b
        z = z1
    return np.where(hit, 1.0, -np.expm1(log_surv))


def _assert_within(est, exact, k=4.0):
    se = est.std(ddof=1) / math.sqrt(est.size)
    assert abs(est.mean() - exact) <= k * se, (est.mean(), exact, se, (est.mean() - exact) / se)
    return se


@pytest.mark.slow
def test_kou_wang_vs_fine_grid_monte_carlo():
    """20,000 paths, dt = T/2000 with the bridge correction (which makes the diffusion exact
    between grid points; what remains of the grid is the jump timing, shifted by < dt)."""
    spot, barrier = 100.0, 130.0
    exact = kou_hit_probability(spot, barrier, *_args(KOU))
    assert 0.05 < exact < 0.3
    est = _fine_grid_hit(np.random.default_rng(11), math.log(barrier / spot), KOU, 20_000, 2_000)
    se = _assert_within(est, exact)
    # power: the jumps matter far beyond the tolerance (GBM with the same sigma)
    assert abs(exact - gbm_hit_probability(spot, barrier, KOU["mu"], KOU["sigma"], KOU["horizon_years"])) > 10 * se


@pytest.mark.parametrize("p, ratio, direction", [
    (KOU, 1.30, "up"),
    (dict(mu=0.1, sigma=0.3, horizon_years=0.5, jump_intensity=3.0, p_up=0.3, up_mean=0.1, down_mean=0.15), 1.4, "up"),
    (dict(mu=0.0, sigma=0.2, horizon_years=1.0, jump_intensity=1.0, p_up=1.0, up_mean=0.5, down_mean=0.0), 2.0, "up"),
    (dict(mu=0.0, sigma=0.3, horizon_years=0.25, jump_intensity=4.0, p_up=0.2, up_mean=0.2, down_mean=0.1),
     0.8, "down"),
])
def test_kou_wang_vs_exact_event_monte_carlo(p, ratio, direction):
    """400,000 exactly simulated paths (standard error ~5e-4)."""
    exact = kou_hit_probability(100.0, 100.0 * ratio, *_args(p), direction=direction)
    assert 0.05 < exact < 0.5
    sign = 1.0 if direction == "up" else -1.0
    est = _event_hit(np.random.default_rng(12), sign * math.log(ratio), p, 400_000, sign=sign)
    _assert_within(est, exact)


# ----------------------------------------------------------------------- shape

def test_monotone_in_barrier_and_horizon():
    ratios = [1.001, 1.01, 1.05, 1.1, 1.2, 1.4, 1.8, 3.0]
    probs = [kou_hit_probability(100.0, 100.0 * r, *_args(KOU)) for r in ratios]
    assert all(0.0 <= q <= 1.0 for q in probs)
    assert np.all(np.diff(probs) < 0), probs
    assert probs[0] > 0.99
    horizons = [1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 3.0]
    probs_t = [kou_hit_probability(100.0, 120.0, *_args(dict(KOU, horizon_years=h))) for h in horizons]
    assert np.all(np.diff(probs_t) > 0), probs_t
    # conventions
    assert kou_hit_probability(100.0, 100.0, *_args(KOU)) == 1.0
    assert kou_hit_probability(100.0, 90.0, *_args(KOU)) == 1.0
    assert kou_hit_probability(100.0, 110.0, *_args(KOU), direction="down") == 1.0
    assert kou_hit_probability(100.0, 120.0, *_args(dict(KOU, horizon_years=0.0))) == 0.0
    with pytest.raises(ValueError):
        kou_hit_probability(100.0, 120.0, *_args(dict(KOU, sigma=0.0)))


def test_jumps_raise_up_crossing_when_up_jumps_added():
    """Adding up jumps (with mu fixed, so the compensator lowers the drift) fattens the
    right tail: for a far barrier the crossing probability rises."""
    base = dict(KOU, jump_intensity=0.0)
    far = 1.8
    p0 = kou_hit_probability(100.0, 100.0 * far, *_args(base))
    p1 = kou_hit_probability(100.0, 100.0 * far, *_args(dict(KOU, p_up=1.0, up_mean=0.1, jump_intensity=5.0)))
    assert p1 > 2 * p0
