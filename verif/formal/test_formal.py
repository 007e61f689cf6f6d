"""Every formal proof passes on the RTL and fails on its mutant (pytest marker ``formal``)."""

from __future__ import annotations

import pytest

from verif.formal.run import PROOFS, check

pytestmark = pytest.mark.formal


@pytest.mark.parametrize("proof", PROOFS, ids=lambda proof: proof.name)
def test_proof_holds_and_its_mutant_fails(proof, tmp_path):
    row = check(proof, tmp_path)
    assert row["result"] == "pass", (
        f"{proof.name} ({proof.mode}, depth {proof.depth}): {row['result']}, failed "
        f"{row['failed']}; logs under {tmp_path}")
    assert row["mutant_result"] == "fail", (
        f"{proof.name}: the mutant '{proof.mutant.what}' was not caught within "
        f"{proof.mutant.depth} cycles ({row['mutant_result']}); logs under {tmp_path}")
