"""Re-hedge after a liquidation: after ``rehedge_delay`` the same hedge is re-opened at the
then mark with the original collateral from the reserve, fees paid again."""

NAME = "rehedge"
KEYS = ("policy.rehedge", "policy.rehedge_delay", "policy.top_up_reserve")
DESCRIPTION = "liquidated: re-open the hedge after rehedge_delay with the original collateral from the reserve"
