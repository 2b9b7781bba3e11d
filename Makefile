# Every target creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch comes first so pip never swaps it for another build; override on other machines,
# e.g. `make test TORCH="torch==2.9.1 torchvision==0.24.1"` on aarch64.
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test lint format demo bench pixels clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
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
