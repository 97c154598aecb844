# The two README commands: `make demo` and `make test`.
# Both create ./.venv on first use and install the package with its extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is only needed to read PySlowFast .pyth checkpoints; 2.13.0 is a CPU
# build on the project machines (a plain `torch` pulls CUDA wheels there).
TORCH_SPEC ?= torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint clean

$(VENV)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,video,serving,torch,jax,beam]"
	touch $@

install: $(VENV)/.installed

# Extra demo flags: make demo DEMO_ARGS=--compare_baseline
DEMO_ARGS ?=

demo: $(VENV)/.installed
	$(PY) scripts/demo.py $(DEMO_ARGS)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile
	KERAS_BACKEND=jax $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m multibackend
	KERAS_BACKEND=torch $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m multibackend

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
