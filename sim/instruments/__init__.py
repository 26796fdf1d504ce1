"""Instruments: the hedge account's margin arithmetic.

* ``perpetual``: a short inverse (coin-margined) or linear (USD(T)-margined) perpetual:
  position value, unrealised PnL, tiered maintenance margin, fees, funding, liquidation
  price, and their closed forms. A dated future would be a second module here with the
  same functions, registered in ``CONTRACTS``.
"""

from __future__ import annotations

from sim.instruments.perpetual import INVERSE, LINEAR

CONTRACTS: dict[str, int] = {"inverse": INVERSE, "linear": LINEAR}  # position.contract -> kernel kind
