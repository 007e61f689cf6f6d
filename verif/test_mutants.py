"""The mutant catalogue (verif/mutants.py) still applies to the current gateware source.

A catalogue entry whose ``before`` text no longer occurs exactly once would be skipped as
stale by ``make mutate``; this check fails in ``make test`` instead, so an edit of hdl/ that
moves a mutated line also updates the catalogue.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from verif.mutants import BLOCKS, MUTANTS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_applies_once(mutant):
    path = REPO / mutant.path
    # The format table holds the operand-format codes hdl/modes.py builds its enums from.
    gateware = mutant.path.startswith("hdl/") or mutant.path == "golden/format_table.py"
    assert gateware and path.is_file(), mutant.path
    count = path.read_text().count(mutant.before)
    assert count == 1, f"{mutant.name}: 'before' occurs {count} times in {mutant.path}"
    assert mutant.after != mutant.before
    assert mutant.block in BLOCKS, f"{mutant.name}: unknown block {mutant.block!r}"
    for test in mutant.tests:
        assert (REPO / test).is_file(), f"{mutant.name}: no test file {test}"


def test_catalogue_covers_every_block_with_unique_names():
    names = [m.name for m in MUTANTS]
    assert len(set(names)) == len(names), "duplicate mutant names"
    assert {m.block for m in MUTANTS} == set(BLOCKS)
