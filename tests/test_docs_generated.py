"""The reference tables of the docs are the code's: each block between generated markers
(tools.docs_generated.BLOCKS: configuration keys, output variables, the CLI's --help)
equals what its generator writes now. Regenerate with `make docs-generate`."""

import pytest

from tools import docs_generated as dg


@pytest.mark.parametrize("rel, name, fn", dg.BLOCKS, ids=[f"{rel}:{name}" for rel, name, _ in dg.BLOCKS])
def test_generated_block_is_current(rel, name, fn):
    _, block, _ = dg.split((dg.ROOT / rel).read_text(encoding="utf-8"), name, rel)
    assert block == fn(), f"{rel} ({name}) is stale: run `make docs-generate` (python -m tools.docs_generated)"


def test_every_per_path_variable_and_policy_output_is_documented():
    from sim.kernel.args import POLICY_OUTPUTS
    from sim.results.dataset import PER_PATH
    table = dg.outputs_per_path()
    for name in list(PER_PATH) + [n for n, _, _ in POLICY_OUTPUTS]:
        assert f"| `{name}` |" in table


def test_cli_page_has_every_subcommand():
    import argparse

    from sim.cli.main import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    page = dg.cli_reference()
    for name in sub.choices:
        assert f"## `hedgesim {name}`" in page
