"""Every notebook in notebooks/ runs headless (nbclient) with small parameters, so none can rot.

The cell tagged `parameters` is followed by a cell of overrides (papermill's convention, without papermill);
outputs go to a temporary directory. A notebook that raises fails the test with the cell that raised."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SMALL = {
    "stake_formula_explorer.ipynb": "POINTS = 20\nSIMULATE_DAYS = 2\n",
    "attack_scenarios.ipynb": 'DAYS = 3\nSCENARIOS = ["baseline", "spam", "griefing"]\nOUT = "out"\n',
    "sweep_heatmap.ipynb": f'SWEEP_FILE = "{NOTEBOOKS.parent / "sim" / "sweeps" / "heatmap_small.toml"}"\n'
    'WORKERS = 0\nSEEDS = 1\nDAYS = 2\nOUT = "out"\n',
}


def test_notebooks_are_committed_executed() -> None:
    """A committed notebook shows its figures to a reader who does not run it: every code cell has run, in order,
    and at least one figure is there."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cells = [c for c in notebook.cells if c.cell_type == "code"]
        assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), path.name
        outputs = [o for c in cells for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), path.name
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name


def test_every_notebook_has_small_parameters() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    override = nbformat.v4.new_code_cell(SMALL[name])
    override["id"] = "test-parameters"
    notebook.cells.insert(tagged[0] + 1, override)
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook draws its figures"
