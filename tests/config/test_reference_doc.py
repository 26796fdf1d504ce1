"""docs/configuration.md shows what the schema says: the block between its
config-reference markers is exactly ``python -m sim.config.reference``."""

from pathlib import Path

from sim.config.reference import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_generated_from_the_schema():
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    block = text[text.index(start) + len(start):text.index(end)]
    assert block == markdown(), "docs/configuration.md is stale: regenerate it with python -m sim.config.reference"
