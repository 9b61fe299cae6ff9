# The README's two commands: `make run` (the main job on embedded defaults) and `make test` (what CI runs).
# Both bootstrap a pinned uv into .tools/ and sync .venv from uv.lock; re-running them is cheap and idempotent.
# The Solana program is built with Debian's clang-16 (installed with apt-get when missing, as root or via sudo).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced

.PHONY: run test lint program bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --quiet
	touch $(VENV_STAMP)

program: $(VENV_STAMP)
	.venv/bin/choir program build --install-clang

# The main job: the example traces on the model, a lockstep check of the program in the in-process SVM, the
# economists' report (baseline and a spam attack, summary tables and plots in out/report.md), and a short load on
# the backend (started on 127.0.0.1 with embedded defaults: local Qdrant, SQLite, the program in LiteSVM) with one
# crash and its consistency checks (figures in out/load.json and out/report.md).
run: $(VENV_STAMP) program
	.venv/bin/choir demo
	.venv/bin/choir check --target program --soak 3000 --failures out/failures
	.venv/bin/choir sim report --out out
	.venv/bin/choir load --users 50 --seconds 5 --faults 1 --out out

test: $(VENV_STAMP) program
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: $(VENV_STAMP) program
	.venv/bin/python bench/bench_model.py
	.venv/bin/python bench/bench_properties.py
	.venv/bin/python bench/bench_program.py
	.venv/bin/python bench/bench_sim.py
	.venv/bin/python bench/bench_backend.py
	.venv/bin/python bench/bench_cli.py

clean:
	rm -rf .venv .tools build out failures .pytest_cache .hypothesis .benchmarks
