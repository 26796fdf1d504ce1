"""Withdrawal of excess: above ``withdraw_above`` the account goes back down to
``withdraw_to``; the amount reaches the reserve after the transfer delay."""

NAME = "withdraw"
KEYS = ("policy.withdraw_above", "policy.withdraw_to", "policy.transfer_delay")
DESCRIPTION = "margin level > withdraw_above at an end mark: account -> reserve, down to withdraw_to"
