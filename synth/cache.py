"""The synthesis result cache: one JSON entry per (design, family, flow) under build/synth-cache.

Results are cached per (design, family) under ``build/synth-cache``, keyed by a hash of the
Verilog and every flow setting, so a rerun only redoes what changed. An entry is written to a
temporary file and renamed into place, so an interrupted run never leaves half an entry; an
entry that does not parse (or lacks a field) is discarded and recomputed.
"""

import json
import os
from pathlib import Path

__all__ = ["CACHE_FIELDS", "read_cache", "write_atomic"]

#: The fields every cache entry has, whatever stage it reached.
CACHE_FIELDS = ("luts", "ff", "carry", "fits", "fmax_mhz")


def read_cache(path: Path, log=print) -> dict | None:
    """The cache entry at ``path``, or None if there is none or it is corrupt (then deleted)."""
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        result, why = None, str(exc)
    else:
        why = f"missing fields {[k for k in CACHE_FIELDS if k not in result]}" \
            if isinstance(result, dict) else "not an object"
    if isinstance(result, dict) and all(k in result for k in CACHE_FIELDS):
        return result
    log(f"synth: discarding the corrupt cache entry {path.name} ({why}); recomputing")
    path.unlink(missing_ok=True)
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

