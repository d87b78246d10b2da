# medvalue: `make report` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := data/sample

.DEFAULT_GOAL := help
.PHONY: help setup report test lint samples notebooks bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-8s %s\n",$$1,$$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name medvalue --display-name "Python (medvalue)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP) ## create .venv, install medvalue with dev tools, register the Jupyter kernel

report: $(STAMP) ## render the sample valuation report to reports/
	$(BIN)/medvalue report $(SAMPLE)/liver_transplant.csv --spec $(SAMPLE)/liver_transplant.spec.yaml --out reports
	@echo "Open reports/liver_transplant.html in a browser (works offline)."

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check medvalue tests benchmarks scripts
	$(BIN)/mypy

samples: $(STAMP) ## regenerate data/sample/ (deterministic)
	$(BIN)/python -m medvalue.datasets $(SAMPLE)

notebooks: $(STAMP) ## rewrite notebooks/ from scripts/make_notebooks.py
	$(BIN)/python scripts/make_notebooks.py

bench: $(STAMP) ## run the benchmarks by hand (writes benchmarks/results/)
	$(BIN)/python benchmarks/bench_profile.py

clean: ## remove the venv and generated reports
	rm -rf $(VENV) reports/*.html reports/*.ipynb reports/*.json
