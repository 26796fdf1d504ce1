"""What the kernel reads and writes: plain NamedTuples of scalars and arrays (numba types
them once per layout; the cache keeps the compiled code across runs)."""

from __future__ import annotations

from dataclasses import fields
from typing import NamedTuple

import numpy as np

from sim.market.params import MarketParams


# The kernel's market arguments: every field of MarketParams (the model's unit-converted
# parameters, one place) plus what a run adds on top of the model. Built by
# ``sim.engine.market_args``.
KERNEL_MARKET_FIELDS = [
    ("log_drift", np.ndarray),  # (steps + 1,) deterministic log increment of step i (drift; index shocks)
    ("vol", np.ndarray),  # (steps + 1,) sigma sqrt(dt) of step i (times any volatility multiplier)
    ("basis_add", np.ndarray),  # (steps + 1,) shock added to the basis after step i's OU step
    ("f_pin", np.ndarray),  # (n_funding + 1,) funding pinned at funding time k (NaN: model rate)
    ("report_steps", np.ndarray),  # (R,) int64 steps at which values are reported; the last is `steps`
    ("continuous", bool),  # liquidation checked on the Brownian-bridge maximum of the mark in each step
    ("antithetic", bool),  # path 2k+1 of a block replays path 2k's normal shocks negated
    ("is_theta", float),  # importance sampling: shift of each price shock (in shock std units); 0 = off
    ("is_log_h", float),  # ... applied while the running max log mark is below this level
    ("dt_days", float),
]
MarketArgs = NamedTuple("MarketArgs", [(f.name, f.type) for f in fields(MarketParams)] + KERNEL_MARKET_FIELDS)


class AccountArgs(NamedTuple):
    """One row per hedge variant (V rows)."""

    kind: np.ndarray  # int64: 0 inverse, 1 linear
    stack: np.ndarray  # BTC held
    collateral: np.ndarray  # margin currency
    size: np.ndarray  # Q USD (inverse) or q BTC (linear)
    fee_rate: np.ndarray
    funding_cap: np.ndarray  # applied rate = clamp(f, -cap, cap)
    tier_start: np.ndarray  # int64: rows of the tier table of this variant
    tier_end: np.ndarray
    tier_limits: np.ndarray  # concatenated tier tables
    tier_rates: np.ndarray
    tier_deductions: np.ndarray
    # margin management (sim.kernel.managed_pass; docs/policies.md); a variant with
    # managed = False runs the plain account pass and ignores the rest
    managed: np.ndarray  # bool
    margin_mode: np.ndarray  # int64: 0 isolated, 1 isolated_auto_add, 2 cross
    wallet: np.ndarray  # exchange wallet balance outside the position (margin currency)
    reserve: np.ndarray  # top-up reserve (margin currency)
    top_up_trigger: np.ndarray  # margin level at or below which a top-up is sent (NaN: off)
    top_up_to: np.ndarray  # margin level a top-up restores
    withdraw_above: np.ndarray  # margin level above which excess is withdrawn (NaN: off)
    withdraw_to: np.ndarray  # margin level a withdrawal leaves
    delay_steps: np.ndarray  # int64: steps a transfer takes (0: arrives at once)
    rehedge: np.ndarray  # bool: re-open the hedge after a liquidation
    rehedge_delay_steps: np.ndarray  # int64
    default_rate_step: np.ndarray  # exchange default hazard per step (0: none)
    recovery_rate: np.ndarray  # fraction of what is on the exchange recovered after a default
    rebalance_every_steps: np.ndarray  # int64: steps between rebalancing checks (0: off)
    rebalance_band: np.ndarray  # relative drift from the target size above which a check trades
    hedge_ratio: np.ndarray  # the rebalancing target: hedge_ratio x the BTC covered
    hedge_collateral: np.ndarray  # bool: the covered BTC includes the account's equity (inverse)
    lot: np.ndarray  # contract size: sizes are whole contracts
    partial_liquidation: np.ndarray  # bool: cut a tiered position to a lower tier before closing it
    partial_from_tier: np.ndarray  # int64: 0-based tier from which partial liquidation applies
    default_on: bool  # any variant with default risk: the driver draws each path's default clock


class PathOutputs(NamedTuple):
    """Per-path results for one chunk of paths; variant axis last."""

    index_at: np.ndarray  # (n, R) float64, index at the report steps (last: T)
    mark_T: np.ndarray  # (n,) float64
    liquidated: np.ndarray  # (n, V) bool
    liquidation_time: np.ndarray  # (n, V) float32, days, NaN if never
    value_at: np.ndarray  # (n, V, R) USD, stack + hedge account closed at the report steps
    log_weight: np.ndarray  # (n,) log likelihood ratio of the path (0 without importance sampling)
    funding: np.ndarray  # (n, V) margin currency, + received
    funding_usd: np.ndarray  # (n, V) USD valued at the index when received
    fees: np.ndarray  # (n, V) margin currency
    min_margin_level: np.ndarray  # (n, V) min equity / maintenance over checks while open (incl. the liquidating one)
    required_collateral: np.ndarray  # (n, V) margin currency
    max_drawdown: np.ndarray  # (n, V) USD, hedged portfolio
    policy: np.ndarray  # (n, V, N_POLICY) managed accounts only (0 rows otherwise): see POLICY_OUTPUTS
    saved: np.ndarray  # (K, n_save, 4): index, mark, funding rate, equity of variant 0


# columns of PathOutputs.policy, in order (name, units: "{m}" is the margin currency)
POLICY_OUTPUTS = (
    ("top_ups", "1", "margin transfers into the account (top-ups from the reserve and exchange auto-adds)"),
    ("reserve_used", "{m}", "amount taken from the reserve (top-ups and re-hedge collateral)"),
    ("withdrawn", "{m}", "amount withdrawn from the account into the reserve"),
    ("rehedges", "1", "times the hedge was re-opened after a liquidation"),
    ("reserve_exhausted", "1", "the reserve ran empty while a top-up or re-hedge rule was on, or one needed more than it held"),
    ("max_on_exchange", "{m}", "largest amount on the exchange (account equity, wallet, a reserve kept there)"),
    ("mean_on_exchange", "{m}", "time-average amount on the exchange over the monitoring times"),
    ("exchange_default", "1", "the exchange failed within the horizon"),
    ("exchange_loss", "{m}", "amount lost in the exchange's default (after recovery)"),
    ("exchange_loss_usd", "USD", "the exchange loss valued at the index when it happened"),
    ("liquidation_loss_usd", "USD", "equity forfeited at liquidations, valued at the index when it happened"),
    ("rebalances", "1", "trades that resized the hedge towards its target size"),
    ("partial_liquidations", "1", "times the exchange cut the position to a lower risk tier instead of closing it"),
)
N_POLICY = len(POLICY_OUTPUTS)
