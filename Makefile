# fourbit — every target depends on the virtualenv, so a fresh clone sets itself up on first use.
# Run `make help` for the list. Variables: SIM=verilator|icarus, WAVES=1, ROWS/COLS/ACC_WIDTH, JOBS
# (pytest workers; training runs side by side in train, train-formats and train-ablations),
# for train-rtl MODEL=mlp|cnn, EPOCHS, SEED (ROWS/COLS default to 8 there), for mutate SEEDS, MUTANTS,
# for train / train-ablations / train-formats DATASET=digits|fashion-mnist|mnist1d (DATA_DIR:
# Fashion-MNIST's files), for train FORMAT=q4|mxfp4|nvfp4.

PYTHON      ?= python3
VENV        := .venv
VPY         := $(VENV)/bin/python
STAMP       := $(VENV)/.fourbit-setup
WAVES       ?= 0
JOBS        ?= 2
ROWS        ?= 4
COLS        ?= 4
ACC_WIDTH   ?= 32
MODEL       ?= mlp
SEED        ?= 1
EPOCHS      ?=
SEEDS       ?= 1 2 3
MUTANTS     ?=
DATASET     ?= digits
DATA_DIR    ?=
FORMAT      ?= q4

# Variables that must be one whole number (a typo like ROWS='4 5' would otherwise reach a
# command line as two arguments): refused before any target runs.
strip-digits = $(if $(2),$(call strip-digits,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,10,$(2))),$(1))
not-whole = $(or $(filter-out 1,$(words $(1))),$(call strip-digits,$(1),0 1 2 3 4 5 6 7 8 9))
$(foreach v,JOBS ROWS COLS ACC_WIDTH SEED $(if $(EPOCHS),EPOCHS),$(if $(call not-whole,$($(v))),$(error $(v) must be a whole number, not '$($(v))')))
ifneq ($(filter-out 0 1,$(WAVES)),)
$(error WAVES must be 0 or 1, not '$(WAVES)')
endif
ifneq ($(filter-out digits fashion-mnist mnist1d,$(DATASET))$(filter-out 1,$(words $(DATASET))),)
$(error DATASET must be digits, fashion-mnist or mnist1d, not '$(DATASET)')
endif
ifneq ($(filter-out q4 mxfp4 nvfp4,$(FORMAT))$(filter-out 1,$(words $(FORMAT))),)
$(error FORMAT must be q4, mxfp4 or nvfp4, not '$(FORMAT)')
endif
ifneq ($(filter-out verilator icarus all,$(SIM)),)
$(error SIM must be verilator, icarus or all, not '$(SIM)')
endif

export PYTHONPATH := $(CURDIR)
export WAVES
export PYTHONDONTWRITEBYTECODE := 1

PYTEST := $(VPY) -m pytest -n $(JOBS)

.PHONY: help setup test sim sim-full verilog lint formal synth synth-check train train-ablations train-formats train-rtl fashion-mnist bench mutate clean distclean

help:            ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(STAMP): pyproject.toml tools/setup_venv.sh
	@PYTHON=$(PYTHON) bash tools/setup_venv.sh $(VENV)
	@touch $@

setup: $(STAMP)  ## only create .venv (pip-only toolchain) and warm the Yosys WASM cache

test: $(STAMP)   ## the fast suite: golden, Amaranth sim, cocotb (Verilator, + Icarus if present), formal
	$(PYTEST) -m "not slow and not synth"

sim: $(STAMP)    ## the RTL regression against the golden model (SIM=verilator|icarus|all, WAVES=1)
	SIM=$${SIM:-verilator} $(PYTEST) -m "not synth" verif/rtl

sim-full: $(STAMP) ## sim plus the long sweeps in full (SIM as for sim)
	SIM=$${SIM:-verilator} $(PYTEST) -m "not synth" --full verif/rtl

verilog: $(STAMP) ## write build/verilog/*.v (array size from ROWS, COLS, ACC_WIDTH)
	$(VPY) -m hdl.gen --out build/verilog --rows $(ROWS) --cols $(COLS) --acc-width $(ACC_WIDTH)

lint: verilog    ## verilator --lint-only on every generated module (documented waivers only)
	$(VPY) -m sim.lint build/verilog

formal: $(STAMP) ## SymbiYosys proofs of the stream blocks and the R4 lane -> build/reports/formal.*
	$(VPY) -m verif.formal.run --out build/reports

synth: $(STAMP)  ## area / Fmax of 4-bit vs FP16 designs on iCE40 and ECP5 -> build/reports/synth.*
	$(VPY) -m synth.run --out build/reports

synth-check: $(STAMP) ## fail if a design grew past its area or fell below its Fmax floor (synth/baselines/*.json)
	$(VPY) -m pytest -m synth verif/synth

# Training runs side by side: JOBS, at least one (JOBS=0 means no pytest workers).
TRAIN_JOBS = $(if $(filter 0,$(JOBS)),1,$(JOBS))
TRAIN_ARGS = --out build/reports --dataset $(DATASET) $(if $(DATA_DIR),--data-dir '$(DATA_DIR)')

train: $(STAMP)  ## 4-bit vs FP32 training (DATASET=digits|fashion-mnist|mnist1d, FORMAT=q4|mxfp4|nvfp4) -> build/reports/train*.json + plot
	$(VPY) -m experiments.train $(TRAIN_ARGS) --jobs $(TRAIN_JOBS) --format $(FORMAT)

train-formats: $(STAMP) ## format shoot-out: FP32 vs INT4/R4 (paper) vs MXFP4 vs NVFP4 (DATASET; digits ~10 min) -> build/reports/formats*.md
	$(VPY) -m experiments.shootout $(TRAIN_ARGS) --jobs $(TRAIN_JOBS)

train-ablations: $(STAMP) ## train plus the ablation table, 3 seeds each (digits ~30 min) -> build/reports
	$(VPY) -m experiments.train $(TRAIN_ARGS) --jobs $(TRAIN_JOBS) --ablations --ablation-seeds 3 $(if $(filter fashion-mnist,$(DATASET)),--models mlp)

fashion-mnist:   ## install Fashion-MNIST (Debian package dataset-fashion-mnist; needs root)
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist; }; \
	else \
	  echo "make fashion-mnist: installing needs root and apt-get (Debian): run" \
	       "'sudo apt-get install dataset-fashion-mnist', or put the four IDX .gz files of" \
	       "https://github.com/zalandoresearch/fashion-mnist in a directory and pass" \
	       "DATA_DIR=<dir> to make train" >&2; exit 1; \
	fi

train-rtl: ROWS = 8
train-rtl: COLS = 8
train-rtl: $(STAMP) ## a whole 4-bit training run on the RTL, bit-exact (MODEL, EPOCHS, ROWS, COLS, SEED)
	$(VPY) -m sim.train_rtl --out build/reports --model $(MODEL) --rows $(ROWS) --cols $(COLS) \
	    --seed $(SEED) $(if $(EPOCHS),--epochs $(EPOCHS))

bench: $(STAMP)  ## cycles per tile and simulated cycles/s of the array under each simulator
	$(VPY) -m sim.bench --out build/reports

mutate: $(STAMP) ## gateware mutants vs the fast tests, per seed (SEEDS, MUTANTS) -> build/reports/mutants.*
	$(VPY) -m tools.mutate --out build/reports --seeds $(SEEDS) $(if $(MUTANTS),--only $(MUTANTS))

clean:           ## remove build outputs (keeps .venv)
	rm -rf build sim_build .pytest_cache

distclean: clean ## remove build outputs and .venv
	rm -rf $(VENV)
