"""Every formal proof passes on the RTL and fails on each of its mutants (marker ``formal``)."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from verif.formal.run import PROOFS, check
from verif.formal.sby import Mutant, load_module

pytestmark = pytest.mark.formal


#: BMC proofs through a whole pipeline, several minutes each: ``make formal`` runs them.
SLOW = ("r4_lane.lane", "gradient_unit.reference")


@pytest.mark.parametrize("proof", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW
                                   else p for p in PROOFS], ids=lambda proof: proof.name)
def test_proof_holds_and_its_mutants_fail(proof, tmp_path):
    row = check(proof, tmp_path)
    assert row["result"] == "pass", (
        f"{proof.name} ({proof.mode}, depth {proof.depth}): {row['result']}, failed "
        f"{row['failed']}; logs under {tmp_path}")
    for mutant in row["mutants"]:
        assert mutant["result"] == "fail", (
            f"{proof.name}: the mutant '{mutant['what']}' was not caught within "
            f"{mutant['depth']} cycles ({mutant['result']}); logs under {tmp_path}")


def _readout_ready():
    return next(proof for proof in PROOFS if proof.name == "readout.ready")


def test_a_mutant_that_changes_nothing_is_not_reported_killed(tmp_path):
    proof = _readout_ready()
    harmless = Mutant((("FP16_MAX_BITS = 0x7BFF", "FP16_MAX_BITS = 0x7BFF  # 65504"),),
                      "a comment added: the same circuit")
    row = check(dataclasses.replace(proof, mutants=(harmless,)), tmp_path)
    assert row["result"] == "pass"
    assert row["mutants"][0]["result"] == "pass" and not row["ok"]


def test_a_mutant_whose_text_is_gone_is_a_clear_error(tmp_path):
    stale = Mutant((("no such line", "x"),), "stale")
    with pytest.raises(ValueError, match="occurs 0 times"):
        load_module(_readout_ready().module, stale.edits)


def test_a_mutant_of_an_imported_helper_reaches_the_proofs_module():
    import hdl.stream
    edits = (("upstream.ready.eq(~full | release)", "upstream.ready.eq(~full)"),)
    mutated = load_module("hdl.array", edits, "hdl.stream")
    assert mutated.hold is not hdl.stream.hold
    assert mutated.hold.__module__ == "hdl.stream_mutant"
    assert sys.modules["hdl.stream"] is hdl.stream  # the real module is back


def test_a_helper_mutant_that_reaches_nothing_is_a_clear_error():
    edits = (("upstream.ready.eq(~full | release)", "upstream.ready.eq(~full)"),)
    with pytest.raises(ValueError, match="binds none of its names"):
        load_module("hdl.pe", edits, "hdl.stream")      # hdl.pe imports nothing from it
