"""Margin-management policies: what the hedger does at each monitoring time (top up the
margin from a reserve, withdraw excess, re-open the hedge after a liquidation).

Today every hedge is left alone after it is opened (``hold``). A policy is a module here
with ``NAME`` and the per-check action the account pass applies before its liquidation
test (``sim.kernel.account_pass``), registered in ``POLICIES``; its config keys go in
``sim.config.schema`` (docs/architecture.md).
"""

from __future__ import annotations

from types import ModuleType

from sim.policies import hold

POLICIES: dict[str, ModuleType] = {m.NAME: m for m in (hold,)}
