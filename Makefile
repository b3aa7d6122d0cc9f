# make run: install into .venv if needed, then train the default (digits, ResNet-18).
# make test: install if needed, then run the test suite (pass PYTEST_ARGS="-m 'not slow'" etc.).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test test-fast lint format tensorboard dashboard bench bench-native native-asan clean

install: $(STAMP)

# torch/torchvision first, pinned to the wheels on local disk, so that resolving the
# project's ranges afterwards never downloads a second torch or CUDA wheels.
# pip builds native/ (setup.py) with the rest, so a change to the C++ reinstalls too.
$(STAMP): pyproject.toml setup.py $(wildcard native/src/*)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(PY) run.py $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs

# The newest study file under outputs/optuna/ (or DB=path/to/study.db).
DB ?= $(shell ls -t outputs/optuna/*.db 2>/dev/null | head -1)
dashboard: install
	@test -n "$(DB)" || { echo "error: no study in outputs/optuna/ (run a sweep, or pass DB=...)"; exit 1; }
	$(VENV)/bin/optuna-dashboard sqlite:///$(abspath $(DB))

bench: install
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/overhead.py

# native/ built with AddressSanitizer into build/asan (beside a copy of the Python package, so
# the normal build stays in place), then its tests against that build.
NATIVE_TESTS := tests/test_native.py tests/test_native_properties.py tests/test_decode.py
native-asan: install
	rm -rf build/asan && mkdir -p build/asan
	cp -r mlpresets build/asan/
	find build/asan -name '_native*.so' -delete
	MLPRESETS_NATIVE_SANITIZE=address $(PY) setup.py -q build_ext \
	  --build-temp build/asan/tmp --build-lib build/asan
	# libstdc++ preloaded beside the runtime: ASan's __cxa_throw interceptor needs it resolved
	# before any extension throws (triton's, under torchvision, does at import).
	ASAN_OPTIONS=detect_leaks=0 \
	  LD_PRELOAD="$$($(CXX) -print-file-name=libasan.so) $$($(CXX) -print-file-name=libstdc++.so)" \
	  PYTHONPATH=build/asan $(VENV)/bin/pytest -p no:cacheprovider -q $(NATIVE_TESTS) \
	  --native-build build/asan

bench-native: install
	$(PY) benchmarks/nms.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache mlpresets/native/_native*.so
