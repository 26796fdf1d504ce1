"""Configuration: schema, validation, exchange presets, durations.

    cfg = sim.config.load_config("configs/default.toml", overrides={"market.sigma": 0.8})

* ``durations``: "15min" / "8h" / "30d" and the 365-day year.
* ``schema``: every section and key with type, default, range, unit and meaning.
* ``checks``: the validation rules (one field, tiers, sweeps, stress, cross-field).
* ``presets``: exchange presets from configs/exchanges/.
* ``core``: ``Config`` (a validated scenario), ``load_config`` and ``--set``/``--sweep`` parsing.
* ``reference``: the configuration reference tables of docs/configuration.md.
"""

from sim.config.checks import correlation_matrix, hedge_target, sweep_dim_name  # noqa: F401
from sim.config.core import (  # noqa: F401
    Config, from_dict, load_config, parse_override_value, parse_set_option, parse_sweep_option,
)
from sim.config.durations import YEAR_SECONDS, format_duration, parse_duration, show_value  # noqa: F401
from sim.config.presets import PRESET_DIR, load_preset, preset_names  # noqa: F401
from sim.config.schema import SCHEMA, Field  # noqa: F401
from sim.errors import ConfigError  # noqa: F401
