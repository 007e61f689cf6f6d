"""``make formal``: run every proof and its mutants; write build/reports/formal.{json,md}.

Each proof must pass on the real RTL and fail (a BMC counterexample) on each of its mutants,
which shows that the property can fail at all; ``make formal`` exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from verif.formal import array, gradient_unit, r4_lane, readout
from verif.formal.sby import ENGINE, Proof, run

__all__ = ["PROOFS", "check", "main"]

#: Every proof, block by block.
PROOFS: list[Proof] = [*array.PROOFS, *r4_lane.PROOFS, *gradient_unit.PROOFS,
                       *readout.PROOFS]


def check(proof: Proof, workdir: Path) -> dict:
    """Run ``proof`` and its mutants; the report row (``ok``: it passed and every mutant
    failed)."""
    real = run(proof, workdir)
    mutants = []
    for index, mutant in enumerate(proof.mutants):
        outcome = run(proof, workdir, mutant=mutant, index=index)
        mutants.append({"what": mutant.what, "depth": mutant.depth,
                        "result": outcome["result"], "seconds": outcome["seconds"],
                        "failed": outcome["failed"]})
    return {
        "property": proof.name, "block": proof.block, "statement": proof.statement,
        "engine": ENGINE, "mode": proof.mode, "depth": proof.depth,
        "result": real["result"], "seconds": real["seconds"], "failed": real["failed"],
        "mutants": mutants,
        "ok": real["result"] == "pass" and all(m["result"] == "fail" for m in mutants),
    }


def _markdown(rows: list[dict], seconds: float) -> str:
    lines = [
        "# Formal proofs (`make formal`)", "",
        f"Engine `{ENGINE}` (SymbiYosys). `prove` = k-induction with k = depth, a proof for "
        "every reachable state; `bmc` = every trace of `depth` cycles from reset. Each proof "
        "is also run on its mutants (BMC), which must fail.", "",
        "| property | mode | depth | result | seconds | mutants (must fail): result |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['property']} | {r['mode']} | {r['depth']} | {r['result']} | "
              f"{r['seconds']:.1f} | "
              + "; ".join(f"{m['what']}: {m['result']}" for m in r["mutants"]) + " |"
              for r in rows]
    ok = sum(r["ok"] for r in rows)
    lines += ["", f"{ok} of {len(rows)} proofs passed and were killed by their mutants; "
              f"wall time {seconds:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/reports"),
                    help="report directory (default: build/reports)")
    ap.add_argument("--work", type=Path, default=Path("build/formal"),
                    help="SymbiYosys work directories (default: build/formal)")
    ap.add_argument("proofs", nargs="*", help="proof names or blocks (default: all)")
    args = ap.parse_args(argv)
    known = {p.name for p in PROOFS} | {p.block for p in PROOFS}
    unknown = [name for name in args.proofs if name not in known]
    if unknown:
        ap.error(f"unknown proof {unknown[0]!r}; known: {', '.join(p.name for p in PROOFS)}")
    chosen = [p for p in PROOFS if not args.proofs or {p.name, p.block} & set(args.proofs)]
    start = time.monotonic()
    rows = []
    for proof in chosen:
        row = check(proof, args.work)
        rows.append(row)
        killed = sum(m["result"] == "fail" for m in row["mutants"])
        print(f"formal: {row['property']:<26} {row['mode']:<5} {row['depth']:>3}  "
              f"{row['result']:<7} {row['seconds']:6.1f} s   mutants killed "
              f"{killed}/{len(row['mutants'])}{'' if row['ok'] else '   <-- NOT OK'}",
              flush=True)
    seconds = time.monotonic() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "formal.json").write_text(json.dumps(
        {"engine": ENGINE, "seconds": round(seconds, 1), "proofs": rows}, indent=2) + "\n")
    (args.out / "formal.md").write_text(_markdown(rows, seconds))
    bad = [r["property"] for r in rows if not r["ok"]]
    print(f"formal: {len(rows) - len(bad)} of {len(rows)} ok in {seconds:.0f} s -> "
          f"{args.out / 'formal.md'}")
    if bad:
        print(f"formal: NOT OK: {', '.join(bad)} (logs under {args.work})", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
