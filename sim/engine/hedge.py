"""The resolved hedge of each variant (contracts, entry, tiers) and the kernel's account rows."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sim.config import Config, ConfigError, hedge_target
from sim.instruments import CONTRACTS
from sim.instruments.perpetual import INVERSE, fee, liquidation_price, margin_excess, position_value, tier_arrays
from sim.engine.management import Management, resolve_management
from sim.kernel import AccountArgs


@dataclass(frozen=True)
class Hedge:
    """The resolved hedge of one variant (what the position actually is)."""

    kind: int
    stack: float
    collateral: float
    size: float  # Q USD (inverse) or q BTC (linear), after rounding to whole contracts
    contracts: int
    entry: float
    fee_rate: float
    tiers: tuple[np.ndarray, np.ndarray, np.ndarray]
    funding_every: int
    funding_cap: float
    management: Management = Management()  # static isolated hedge unless a policy or exchange risk is set

    @property
    def open_fee(self) -> float:
        return fee(self.kind, self.size, self.entry, self.fee_rate)

    @property
    def position_value_at_entry(self) -> float:
        """Q/E BTC (inverse) or q E USD (linear): the position value in the margin currency."""
        return float(position_value(self.kind, self.size, self.entry))

    @property
    def liquidation_price(self) -> float:
        """Mark at which the fresh position is liquidated (open fee included, no funding)."""
        return liquidation_price(self.kind, self.size, self.entry, self.collateral, self.tiers, self.open_fee)

    @property
    def margin_unit(self) -> str:
        return "BTC" if self.kind == INVERSE else "USD"


def resolve_hedge(cfg: Config) -> Hedge:
    pos, ex = cfg.position, cfg.exchange
    kind = CONTRACTS[pos.contract]
    contracts = int(math.floor(hedge_target(cfg) / cfg.contract_size + 1e-9))
    size = contracts * cfg.contract_size
    entry = cfg.market.spot * (1.0 + cfg.basis.initial)
    tiers = tier_arrays(ex.tiers, ex.maintenance_margin)
    collateral = cfg.collateral
    h = Hedge(kind=kind, stack=pos.stack, collateral=collateral, size=size, contracts=contracts,
              entry=entry, fee_rate=ex.taker_fee, tiers=tiers, funding_every=cfg.funding_every,
              funding_cap=cfg.funding.cap, management=resolve_management(cfg))
    if h.management.partial_liquidation and not partial_can_act(h):
        h = dataclasses.replace(h, management=dataclasses.replace(h.management, partial_liquidation=False))
    if size > 0 and margin_excess(kind, size, entry, collateral, entry, tiers, h.open_fee) <= 0:
        mm = margin_excess(kind, size, entry, 0.0, entry, tiers, 0.0) * -1.0
        raise ConfigError(
            f"position.collateral = {collateral:g} {h.margin_unit}: not above the maintenance margin "
            f"plus opening fee at entry ({mm + h.open_fee:.6g} {h.margin_unit}); the hedge would be "
            "liquidated at once. Post more collateral or lower position.hedge_ratio")
    return h


def partial_can_act(h: Hedge) -> bool:
    """Whether partial liquidation can change anything: the position's value where it fails
    (at entry, or at its liquidation price) comes within a factor 2 of the first tier where
    the exchange cuts rather than closes. A position far below it (1 BTC against a 150 BTC
    risk limit) keeps the plain pass and the collateral identity (docs/policies.md)."""
    limit = float(h.tiers[0][h.management.partial_from_tier - 1])
    lp = h.liquidation_price
    at_liq = float(position_value(h.kind, h.size, lp)) if math.isfinite(lp) and lp > 0 else 0.0
    return max(h.position_value_at_entry, at_liq) > 0.5 * limit


def account_args(hedges: list[Hedge]) -> AccountArgs:
    starts, ends, lim, rat, ded = [], [], [], [], []
    n = 0
    for h in hedges:
        starts.append(n)
        n += len(h.tiers[0])
        ends.append(n)
        lim.append(h.tiers[0])
        rat.append(h.tiers[1])
        ded.append(h.tiers[2])
    i64 = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    f64 = lambda xs: np.asarray(xs, dtype=np.float64)  # noqa: E731
    ms = [h.management for h in hedges]
    # one managed variant makes every variant of the run managed: the policy outputs then
    # mean the same for all (a static hedge through the managed pass gives the same results)
    any_managed = any(m.managed for m in ms)
    return AccountArgs(
        kind=i64([h.kind for h in hedges]),
        stack=f64([h.stack for h in hedges]),
        collateral=f64([h.collateral for h in hedges]),
        size=f64([h.size for h in hedges]),
        fee_rate=f64([h.fee_rate for h in hedges]),
        funding_cap=f64([h.funding_cap for h in hedges]),
        tier_start=i64(starts),
        tier_end=i64(ends),
        tier_limits=np.concatenate(lim),
        tier_rates=np.concatenate(rat),
        tier_deductions=np.concatenate(ded),
        managed=np.full(len(ms), any_managed, dtype=np.bool_),
        **management_rows(ms),
        default_on=any(m.default_rate_step > 0.0 for m in ms),
    )


def management_rows(ms: list[Management]) -> dict[str, np.ndarray]:
    """The kernel's per-variant rows of the Management fields (same names in AccountArgs),
    typed by each field's default: int64, float64 or bool."""
    dtypes = {bool: np.bool_, int: np.int64, float: np.float64}
    return {f.name: np.array([getattr(m, f.name) for m in ms], dtype=dtypes[type(f.default)])
            for f in dataclasses.fields(Management)}
