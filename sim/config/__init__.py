"""Configuration: schema, validation, exchange presets, durations.

    cfg = sim.config.load_config("configs/default.toml", overrides={"market.sigma": 0.8})
"""

from sim.config.core import (  # noqa: F401
    PRESET_DIR, SCHEMA, YEAR_SECONDS, Config, ConfigError, Field, correlation_matrix, format_duration, from_dict,
    hedge_target, load_config, load_preset, parse_duration, parse_set_option, parse_sweep_option, preset_names,
    sweep_dim_name,
)
