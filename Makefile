# The two commands the README promises: `make run` and `make test`.
# Both create .venv, install the locked dependencies with uv, and then do their job.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
FLEET  ?= fleet.yaml

.PHONY: run test torch lock bench docs lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet uv

# One stamp per lock file: re-installs only when the lock or pyproject changes.
$(VENV)/.base.stamp: requirements/base.lock pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements/base.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.dev.stamp && touch $@

$(VENV)/.dev.stamp: requirements/dev.lock pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements/dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.base.stamp && touch $@

run: $(VENV)/.base.stamp
	$(BIN)/botfleet run $(FLEET)

# The optional 'torch' extra (LSTM/Transformer models, docs/ml.md) is not in the locks: it is
# installed from a local CPU wheel when one is there (never resolved from an index, which would
# pull the CUDA build); without it the sequence-model tests skip, saying why.
TORCH_WHEELS ?= /opt/wheels
torch: $(VENV)/.dev.stamp
	@wheel=$$(ls $(TORCH_WHEELS)/torch-2.13.0*.whl 2>/dev/null | head -1); \
	if [ -z "$$wheel" ]; then echo "no torch-2.13.0 wheel in $(TORCH_WHEELS): sequence-model tests will skip"; \
	elif ! $(BIN)/python -c "import torch" 2>/dev/null; then \
	  $(UV) pip install --quiet --python $(BIN)/python "$$wheel"; fi

# pytest's exit code is kept in .pytest-rc so that .ci/run can tell "no tests" (5) apart.
test: $(VENV)/.dev.stamp torch
	$(BIN)/python -m pytest --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS); rc=$$?; echo $$rc > .pytest-rc; exit $$rc

lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml -o requirements/base.lock
	$(UV) pip compile --quiet --python-version 3.11 --all-extras pyproject.toml -o requirements/dev.lock

bench: $(VENV)/.dev.stamp
	$(BIN)/python bench/bench_validate.py

docs: $(VENV)/.dev.stamp
	$(BIN)/botfleet schema docs --output docs/configuration.md
	$(BIN)/python -m botfleet.indicators.docs > docs/indicators.md

lint: $(VENV)/.dev.stamp
	$(BIN)/ruff check src tests bench flows ui plugins

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov
