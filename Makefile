# Every target creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every install goes through constraints.txt (environment.yml uses it too). torch comes first
# so pip never swaps it for another build; its default is constraints.txt's pin, override on
# other machines, e.g. `make test TORCH="torch==2.9.1 torchvision==0.24.1"` on aarch64.
CONSTRAINTS := constraints.txt
TORCH ?= $(shell grep -E '^torch(vision)?==' $(CONSTRAINTS) | tr '\n' ' ')
STAMP := $(VENV)/.installed
# Named after TORCH, so a changed TORCH reinstalls.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' '$(TORCH)' | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install test lint format demo bench pixels clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(TORCH_STAMP): | $(BIN)/python
	rm -f $(VENV)/.torch-*
	touch $@

# The other pins, without torch's: TORCH may name another build.
$(VENV)/constraints.txt: $(CONSTRAINTS) | $(BIN)/python
	grep -v -E '^torch(vision)?==' $(CONSTRAINTS) > $@

$(STAMP): pyproject.toml $(VENV)/constraints.txt $(TORCH_STAMP) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt $(TORCH)
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt $(TORCH) -e '.[dev]'
	touch $@

# Real pixels for the demo: Debian's dataset-fashion-mnist (no download beyond the package registry).
pixels:
	@bash datasets/demo/get_fashion_mnist.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint pixels
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP) pixels
	$(BIN)/python -m agcn_pyg demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
