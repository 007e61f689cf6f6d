"""Write an Amaranth component as a Verilog file (the single entry point for Verilog output)."""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog


def write_verilog(component, name: str, path: Path) -> Path:
    """Convert ``component`` to Verilog module ``name`` at ``path``; rewrite only on change.

    Leaving an unchanged file untouched keeps simulator rebuilds incremental.
    """
    text = verilog.convert(component, name=name, emit_src=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
