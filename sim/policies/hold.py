"""Hold: the hedge is opened with its collateral and never touched again (no transfers,
no re-hedging). The account pass applies no policy action at its checks."""

NAME = "hold"
KEYS: tuple[str, ...] = ()
DESCRIPTION = "fixed isolated collateral; nothing is moved after the hedge is opened"
