# The two README commands: `make demo` and `make test`.
# Both create ./.venv on first use: `make demo` installs the package with
# what the demo needs (PyAV; the serving API for the export's warm-up
# requests); `make test` adds the other extras (PyTorch, JAX, Beam, the test
# tools).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is only needed to read PySlowFast .pyth checkpoints; 2.13.0 is a CPU
# build on the project machines (a plain `torch` pulls CUDA wheels there).
TORCH_SPEC ?= torch==2.13.0
PYTEST_WORKERS ?= 2
BENCH_OUTPUT ?= benchmarks/results

.PHONY: install demo test test-slow test-all lint bench fuzz clean

$(VENV)/.demo-installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[video,serving]"
	touch $@

$(VENV)/.installed: $(VENV)/.demo-installed
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,video,serving,torch,jax,beam,onnx,openvino,litert]"
	touch $@

install: $(VENV)/.installed

# Extra demo flags: make demo DEMO_ARGS=--compare_baseline
DEMO_ARGS ?=

demo: $(VENV)/.demo-installed
	$(PY) scripts/demo.py $(DEMO_ARGS)

# `make test`: everything but the tests marked `slow` (end-to-end program
# runs, exports to every format, killed and restarted processes, the
# benchmarks' smoke runs), which `make test-slow` runs; CI runs both.
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PYTEST) -m "not slow"
	KERAS_BACKEND=jax $(PYTEST) -m "multibackend and not slow"
	KERAS_BACKEND=torch $(PYTEST) -m "multibackend and not slow"

# (No slow test is multibackend: this tier runs on TensorFlow only.)
test-slow: $(VENV)/.installed
	$(PYTEST) -m slow

test-all: test test-slow

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The speed and memory programs of benchmarks/ at their default sizes (an
# hour or more on 2 CPU cores); each prints its table and writes JSON here.
bench: $(VENV)/.installed
	mkdir -p $(BENCH_OUTPUT)
	$(PY) -m benchmarks.nonlocal_block --output=$(BENCH_OUTPUT)/nonlocal_block.json
	$(PY) -m benchmarks.model --output=$(BENCH_OUTPUT)/model.json
	$(PY) -m benchmarks.step_breakdown --output=$(BENCH_OUTPUT)/step_breakdown.json
	$(PY) -m benchmarks.data --prepare_engines --data_service --output=$(BENCH_OUTPUT)/data.json
	$(PY) -m benchmarks.export_runtimes --rounds=3 --output=$(BENCH_OUTPUT)/export_runtimes.json
	$(PY) -m benchmarks.export_parity --output=$(BENCH_OUTPUT)/export_parity.json
	$(PY) -m benchmarks.long_video_memory --video_dir=$(BENCH_OUTPUT)/long_videos --output=$(BENCH_OUTPUT)/long_video_memory.json

# The long fuzz run of tests/fuzz/ (`make test` runs its short, fixed one):
# random inputs, FUZZ_EXAMPLES per harness (fewer for the slow ones),
# failures kept in .hypothesis/ and replayed first by the next run.
FUZZ_EXAMPLES ?= 2000
fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) build *.egg-info
