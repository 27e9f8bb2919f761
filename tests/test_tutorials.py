"""The tutorials in tutorials/ are committed without outputs and listed in the docs.

They are executed once, by the docs build of ``tests/test_docs.py`` (myst-nb), which also checks that
each rendered page shows its figures and no error or warning output.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))


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
