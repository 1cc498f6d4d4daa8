# Two commands for a newcomer (see README):  make app   and   make test
# Both create .venv, install torch FIRST (so pip never pulls a multi-GB CUDA build by accident), then the lab.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch to install when the venv has none. For the CUDA build, pass TORCH_INDEX (see README).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=

.PHONY: install install-dev app classroom test pretrain bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e .

install-dev: install
	$(BIN)/python -m pip install -q -e ".[dev]"

app: install
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} $(BIN)/python -m streamlit run app.py  # see lab/serve.py SERVER_ENV

# A whole class on one machine: WORKERS Streamlit processes behind port 8501 (lab/serve.py).
WORKERS ?= 2
classroom: install
	$(BIN)/python -m lab.serve --workers $(WORKERS)

test: install-dev
	@# pytest exits 5 when it collects no tests: report it, and fail like any other failure.
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; exit $$rc

pretrain: install
	$(BIN)/python -m lab pretrain

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
