"""Benchmark of the command line's start-up: listing commands should answer in under half a second.

Each command is started `--repeat` times as a fresh process (as a user types it), alternating with the same-run
references: a bare interpreter (`python -c pass`) and one that only imports typer, rich's console and typer's
help renderer (`typer.rich_utils`), which any typer command line with rich help pays. For each: the median wall
time and the median CPU time (user + system of the child, from `os.wait4`), which other jobs on a shared machine
tilt less than wall time. `ours` is the command's CPU time minus the typer floor: what choir's own imports cost.

    .venv/bin/python bench/bench_cli.py [--repeat 15] [--write-docs]

`--write-docs` replaces the "## Command line start-up" section of docs/BENCHMARKS.md (creating it if needed,
touching no other section).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "BENCHMARKS.md"
CHOIR = str(ROOT / ".venv" / "bin" / "choir")
REFERENCES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python: import typer + rich help": [
        sys.executable,
        "-c",
        "import typer, typer.rich_utils, rich.console",
    ],
}
COMMANDS = {
    "choir --help": [CHOIR, "--help"],
    "choir --version": [CHOIR, "--version"],
    "choir sim scenarios": [CHOIR, "sim", "scenarios"],
    "choir sim agents": [CHOIR, "sim", "agents"],
    "choir sim --help": [CHOIR, "sim", "--help"],
}


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall s, child CPU s) of one run, output discarded."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(repeat: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) per command, runs interleaved so a burst of load hits them all alike."""
    everything = {**REFERENCES, **COMMANDS}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in everything}
    for argv in everything.values():
        run_once(argv)  # warm the file cache and the bytecode
    for _ in range(repeat):
        for name, argv in everything.items():
            samples[name].append(run_once(argv))
    return {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in samples.items()
    }


def section(figures: dict[str, tuple[float, float]], repeat: int) -> str:
    floor = figures["python: import typer + rich help"][1]
    rows = "\n".join(
        f"| `{name}` | {wall * 1000:.0f} | {cpu * 1000:.0f} | "
        + (f"{(cpu - floor) * 1000:+.0f} |" if name in COMMANDS else "|")
        for name, (wall, cpu) in figures.items()
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        "## Command line start-up\n\n"
        f"`.venv/bin/python bench/bench_cli.py --repeat {repeat}` ({platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load} when it ran). Medians of {repeat} fresh processes each, "
        "interleaved; CPU is the child's user + system time, `ours` the CPU beyond the typer + rich help floor. "
        "Goal: listing commands under 500 ms.\n\n"
        "| command | wall ms | CPU ms | ours ms |\n|---|---:|---:|---:|\n" + rows + "\n"
    )


def write_docs(text: str) -> None:
    """Replace (or append) the section in docs/BENCHMARKS.md, leaving every other section alone."""
    docs = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Command line start-up\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(docs):
        docs = pattern.sub(lambda _: text + "\n", docs, count=1)
    else:
        docs = docs.rstrip("\n") + "\n\n" + text
    DOCS.write_text(docs.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    text = section(measure(args.repeat), args.repeat)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
