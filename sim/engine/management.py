"""How a hedge is managed after it is opened: the [policy] table (top-ups from a reserve,
withdrawals, re-hedging, rebalancing) and the exchange's margin mode, wallet, partial
liquidation and default risk, resolved
into the kernel's per-variant rows (docs/policies.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.config import Config
from sim.config.durations import parse_delay, parse_duration

MARGIN_MODES = {"isolated": 0, "isolated_auto_add": 1, "cross": 2}


@dataclass(frozen=True)
class Management:
    margin_mode: int = 0
    wallet: float = 0.0
    reserve: float = 0.0
    top_up_trigger: float = math.nan  # NaN: off
    top_up_to: float = math.nan
    withdraw_above: float = math.nan
    withdraw_to: float = math.nan
    delay_steps: int = 0
    rehedge: bool = False
    rehedge_delay_steps: int = 1
    default_rate_step: float = 0.0  # hazard per step
    recovery_rate: float = 0.0
    rebalance_every_steps: int = 0  # 0: no rebalancing
    rebalance_band: float = 0.0
    hedge_ratio: float = 1.0  # the rebalancing target: hedge_ratio x the BTC covered
    hedge_collateral: bool = False
    lot: float = 1.0  # contract size
    partial_liquidation: bool = False  # only with more than one risk tier
    partial_from_tier: int = 1  # 0-based tier index from which a failing position is cut, not closed

    @property
    def managed(self) -> bool:
        """Anything beyond a static isolated hedge: the kernel's managed account pass."""
        return (self.margin_mode != 0 or self.wallet > 0.0 or self.reserve > 0.0 or self.rehedge
                or self.top_up_trigger == self.top_up_trigger or self.withdraw_above == self.withdraw_above
                or self.default_rate_step > 0.0 or self.rebalance_every_steps > 0 or self.partial_liquidation)


def resolve_management(cfg: Config) -> Management:
    p, ex = cfg.policy, cfg.exchange
    dt = cfg.dt_seconds

    def steps(seconds: float, least: int) -> int:  # the first check at or after the delay
        return max(least, int(math.ceil(seconds / dt - 1e-9)))

    nan = math.nan
    return Management(
        margin_mode=MARGIN_MODES[ex.margin_mode],
        wallet=float(ex.wallet),
        reserve=float(p.top_up_reserve),
        top_up_trigger=nan if p.top_up_trigger is None else float(p.top_up_trigger),
        top_up_to=nan if p.top_up_to is None else float(p.top_up_to),
        withdraw_above=nan if p.withdraw_above is None else float(p.withdraw_above),
        withdraw_to=nan if p.withdraw_to is None else float(p.withdraw_to),
        delay_steps=steps(parse_delay(p.transfer_delay), 0),
        rehedge=bool(p.rehedge),
        rehedge_delay_steps=steps(parse_delay(p.rehedge_delay), 1),
        default_rate_step=float(ex.default_rate) * cfg.dt_years,
        recovery_rate=float(ex.recovery_rate),
        rebalance_every_steps=rebalance_steps(cfg),
        rebalance_band=0.0 if p.rebalance_band is None else float(p.rebalance_band),
        hedge_ratio=float(cfg.position.hedge_ratio),
        hedge_collateral=bool(cfg.position.hedge_collateral),
        lot=float(cfg.contract_size),
        partial_liquidation=bool(ex.partial_liquidation) and len(ex.tiers or []) >= ex.partial_liquidation_tier,
        partial_from_tier=int(ex.partial_liquidation_tier) - 1,
    )


def rebalance_steps(cfg: Config) -> int:
    """Steps between rebalancing checks: ``policy.rebalance_every`` in whole steps (at least
    one), every step when only ``policy.rebalance_band`` is set, 0 (off) when neither is."""
    p = cfg.policy
    if p.rebalance_every is None:
        return 1 if p.rebalance_band is not None else 0
    return max(1, int(round(parse_duration(p.rebalance_every) / cfg.dt_seconds)))



