# Two commands set everything up on a fresh machine:
#   make report   .venv with crossloss (NumPy only unless frameworks are already there), parity report
#   make test     .venv with crossloss and every backend, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned: this version's CPU wheel is what the project is tested with.
FRAMEWORKS := torch==2.13.0 tensorflow-cpu

.PHONY: report test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(FRAMEWORKS) -e ".[all,test]"
	touch $@ $(VENV)/.base

report: $(VENV)/.base
	$(BIN)/python -m crossloss.conformance

test: $(VENV)/.all
	$(BIN)/python -m pytest

bench: $(VENV)/.all
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/calls.py
	$(BIN)/python benchmarks/memory.py --backends torch,numpy,tensorflow

clean:
	rm -rf $(VENV) build *.egg-info reports benchmarks/results
