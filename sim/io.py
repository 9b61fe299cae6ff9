"""Writing and reading result tables: Parquet when pyarrow is installed, CSV otherwise.

Same seed, same bytes: tables are written without the pandas index, with fixed column order and dtypes, fixed
compression and no timestamps, so two runs of the same scenario and seed produce byte-identical files (the
sweep cache and the tests rely on it). JSON side files are written with sorted keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

try:
    import pyarrow  # noqa: F401

    HAVE_PYARROW = True
except ImportError:  # pragma: no cover - the sim extra installs pyarrow
    HAVE_PYARROW = False

TABLE_SUFFIX = ".parquet" if HAVE_PYARROW else ".csv"


def write_frame(frame: pd.DataFrame, stem: str | Path) -> Path:
    """Write `frame` to `<stem>.parquet` (or `.csv`) atomically; return the path."""
    path = Path(stem).with_suffix(TABLE_SUFFIX)
    tmp = path.with_name(path.name + ".tmp")
    if HAVE_PYARROW:
        frame.to_parquet(tmp, engine="pyarrow", index=False, compression="zstd")
    else:  # pragma: no cover
        frame.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, path)
    return path


def read_frame(stem: str | Path) -> pd.DataFrame:
    """Read a table written by `write_frame` (either format)."""
    stem = Path(stem)
    if stem.suffix in (".parquet", ".csv"):
        stem = stem.with_suffix("")
    parquet, csv = stem.with_suffix(".parquet"), stem.with_suffix(".csv")
    if parquet.exists():
        return pd.read_parquet(parquet)
    if csv.exists():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"no table {stem}.parquet or {stem}.csv")


def has_frame(stem: str | Path) -> bool:
    stem = Path(stem)
    return stem.with_suffix(".parquet").exists() or stem.with_suffix(".csv").exists()


def write_json(data: Any, path: str | Path, sort_keys: bool = True) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=sort_keys, default=str)
        handle.write("\n")
    os.replace(tmp, path)
    return path
