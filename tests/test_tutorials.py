"""The tutorials in tutorials/ execute from a clean folder, draw their figures, and are committed without outputs.

Executing all four takes a few minutes on 2 CPU cores; the long ones are marked ``slow``
(deselect with ``-m "not slow"``). Times per notebook are in the docs build log and in the issue note.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
#: Notebooks that take more than about a minute on 2 CPU cores.
SLOW = {"quickstart", "transfer_learning", "explaining_a_celltype"}


def _param(path: Path):
    marks = [pytest.mark.slow] if path.stem in SLOW else []
    return pytest.param(path, id=path.stem, marks=marks)


def test_there_are_tutorials():
    assert {p.stem for p in TUTORIALS} >= {"quickstart", "transfer_learning", "explaining_a_celltype", "your_own_data"}


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_in_the_docs_toctree(path):
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text()
    toctree = index[index.index("```{toctree}") :]
    assert f"\n{path.stem}\n" in toctree, f"add {path.stem} to the toctree of docs/tutorials/index.md"


@pytest.mark.parametrize("path", [_param(p) for p in TUTORIALS])
def test_tutorial_executes_and_draws_figures(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("ipykernel")

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    figures = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures, f"{path.name} drew no figure"
