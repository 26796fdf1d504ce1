"""Every policy the registry names has config keys the schema knows."""

from sim.config import SCHEMA
from sim.policies import POLICIES


def test_policy_keys_exist():
    assert set(POLICIES) == {"hold", "top_up", "withdraw", "rehedge"}
    for m in POLICIES.values():
        for dotted in m.KEYS:
            section, key = dotted.split(".")
            assert key in SCHEMA[section], dotted
