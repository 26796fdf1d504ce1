"""Top-up from a reserve: when the margin level falls to the trigger, send enough of the
reserve to bring it back to ``top_up_to``; it arrives after the transfer delay."""

NAME = "top_up"
KEYS = ("policy.top_up_reserve", "policy.top_up_trigger", "policy.top_up_to", "policy.transfer_delay")
DESCRIPTION = "margin level <= trigger: reserve -> account (after the transfer delay), back to top_up_to"
