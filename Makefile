# The README's two commands: `make run` (the main job on embedded defaults) and `make test` (what CI runs).
# Both bootstrap a pinned uv into .tools/ and sync .venv from uv.lock; re-running them is cheap and idempotent.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced

.PHONY: run test lint bench acceptance clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --quiet
	touch $(VENV_STAMP)

run: $(VENV_STAMP)
	.venv/bin/choir demo

test: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/python -m pytest
	.venv/bin/python ../shared/tools/check_acceptance.py --choir .venv/bin/choir || [ ! -d ../shared/acceptance ]

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: $(VENV_STAMP)
	.venv/bin/python bench/bench_model.py

clean:
	rm -rf .venv .tools build out .pytest_cache .hypothesis
