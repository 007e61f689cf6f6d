"""``make formal``: run every proof and its mutant; write build/reports/formal.{json,md}.

Each proof must pass on the real RTL and fail (a BMC counterexample) on its mutant, which
shows that the property can fail at all; ``make formal`` exits non-zero otherwise.
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
    """Run ``proof`` and its mutant; the report row (``ok``: passed, and the mutant failed)."""
    real = run(proof, workdir)
    mutant = run(proof, workdir, mutated=True)
    return {
        "property": proof.name, "block": proof.block, "statement": proof.statement,
        "engine": ENGINE, "mode": proof.mode, "depth": proof.depth,
        "result": real["result"], "seconds": real["seconds"], "failed": real["failed"],
        "mutant": proof.mutant.what, "mutant_depth": proof.mutant.depth,
        "mutant_result": mutant["result"], "mutant_seconds": mutant["seconds"],
        "mutant_failed": mutant["failed"],
        "ok": real["result"] == "pass" and mutant["result"] == "fail",
    }


def _markdown(rows: list[dict], seconds: float) -> str:
    lines = [
        "# Formal proofs (`make formal`)", "",
        f"Engine `{ENGINE}` (SymbiYosys). `prove` = k-induction with k = depth, a proof for "
        "every reachable state; `bmc` = every trace of `depth` cycles from reset. Each proof "
        "is also run on its mutant (BMC), which must fail.", "",
        "| property | mode | depth | result | seconds | mutant (must fail) | mutant result |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['property']} | {r['mode']} | {r['depth']} | {r['result']} | "
              f"{r['seconds']:.1f} | {r['mutant']} | {r['mutant_result']} |" for r in rows]
    ok = sum(r["ok"] for r in rows)
    lines += ["", f"{ok} of {len(rows)} proofs passed and were killed by their mutant; "
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
        print(f"formal: {row['property']:<26} {row['mode']:<5} {row['depth']:>3}  "
              f"{row['result']:<7} {row['seconds']:6.1f} s   mutant {row['mutant_result']}"
              f"{'' if row['ok'] else '   <-- NOT OK'}", flush=True)
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
