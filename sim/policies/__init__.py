"""Margin-management policies: what the hedger does at each monitoring time (top up the
margin from a reserve, withdraw excess, re-open the hedge after a liquidation).

The rules run inside the kernel's managed account pass (``sim.kernel.managed_pass``, in
the order of events its docstring gives), with their [policy] keys resolved by
``sim.engine.management``. This package names them: each module has ``NAME``, its config
``KEYS`` and ``DESCRIPTION``, listed in ``POLICIES`` (docs/policies.md, docs/architecture.md).
"""

from __future__ import annotations

from types import ModuleType

from sim.policies import hold, rehedge, top_up, withdraw

POLICIES: dict[str, ModuleType] = {m.NAME: m for m in (hold, top_up, withdraw, rehedge)}
