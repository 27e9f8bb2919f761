"""The Sphinx documentation builds offline with warnings as errors, executes every tutorial, and shows what the code has.

The one build of this module first executes the notebooks of ``tutorials/`` (nbclient, the executor myst-nb
uses, each in its own temporary folder as ``nb_execution_in_temp`` does; one per CPU core, at most two, at once:
a notebook's kernel runs one thread), then builds the pages from the executed copies (``nb_execution_mode='off'``).
A tutorial that raises fails the build. It takes a few minutes on 2 CPU cores.
"""

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).parents[1]
SUBPACKAGES = ("pp", "tl", "pl", "datasets", "io", "models")
TUTORIALS = sorted(p.stem for p in (ROOT / "tutorials").glob("*.ipynb"))
#: A Python warning or exception named in a cell's stderr (logging levels are upper case and pass).
PROBLEM = re.compile(r"\b\w*(Warning|Error|Exception)\b|Traceback")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build a copy of docs/ (so the checkout stays clean), executing every tutorial in a temporary folder."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(
        ROOT / "docs", work / "docs", ignore=shutil.ignore_patterns("_build", "generated", "jupyter_execute")
    )
    shutil.copy(ROOT / "CHANGELOG.md", work / "CHANGELOG.md")
    out = work / "html"
    env = {
        **os.environ,
        "CHROMSEQ_DOCS_EXECUTE": "off",  # executed below, before the build
        "CHROMSEQ_DOCS_INTERSPHINX": "0",
        # one OpenMP/torch thread per kernel, as in the test session (tests/conftest.py): on a 2-core machine
        # shared with other jobs, two threads trained the tutorials' networks 3-30x slower than one
        "OMP_NUM_THREADS": "1",
    }
    if (ROOT / "tutorials").is_dir():
        shutil.copytree(ROOT / "tutorials", work / "tutorials")
        failed = _execute_notebooks(sorted((work / "tutorials").glob("*.ipynb")), work / "runs", env)
        if failed:
            return subprocess.CompletedProcess(["nbclient"], 1, "", "\n\n".join(failed)), out
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(work / "doctrees")]
    proc = subprocess.run([*cmd, str(work / "docs"), str(out)], capture_output=True, text=True, env=env, timeout=1800)
    return proc, out


#: Execute one notebook in place (argv: notebook, working folder), as myst-nb would: 900 s per cell at most.
_EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient
path, cwd = sys.argv[1:3]
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=900, resources={"metadata": {"path": cwd}}).execute()
nbformat.write(notebook, path)
"""


def _execute_notebooks(notebooks: list[Path], runs: Path, env: dict[str, str]) -> list[str]:
    """Execute ``notebooks`` in place, each in a folder of its own under ``runs``; return what the failed ones said."""

    def execute(notebook: Path) -> str | None:
        cwd = runs / notebook.stem
        cwd.mkdir(parents=True)
        argv = [sys.executable, "-c", _EXECUTE, str(notebook), str(cwd)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
        return None if proc.returncode == 0 else f"tutorials/{notebook.name} raised:\n{proc.stderr[-6000:]}"

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        return [message for message in pool.map(execute, notebooks) if message]


def tutorial_page(out: Path, name: str) -> str:
    page = out / "tutorials" / f"{name}.html"
    assert page.exists(), f"no page for tutorial {name}: is it in the toctree of docs/tutorials/index.md?"
    return page.read_text()


def test_docs_build_with_warnings_as_errors(built):
    proc, _ = built
    assert proc.returncode == 0, proc.stderr[-6000:]


def test_every_public_name_has_an_api_page(built):
    import importlib

    _, out = built
    missing = []
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"chromseq.{sub}")
        missing += [
            f"chromseq.{sub}.{n}"
            for n in module.__all__
            if not (out / "generated" / f"chromseq.{sub}.{n}.html").exists()
        ]
    assert not missing, f"no API page for {missing}: list them in docs/api.md"


def test_model_card_shows_parameter_counts_of_the_code(built):
    from chromseq.models import PRESETS, build, count_parameters

    _, out = built
    html = (out / "model.html").read_text()
    for preset in PRESETS.values():
        assert f"{count_parameters(build(preset)):,}" in html


def test_keys_page_documents_every_key_constant(built):
    from chromseq import _keys

    _, out = built
    html = (out / "keys.html").read_text()
    constants = [n for n in vars(_keys) if n.isupper()]
    assert constants and all(f'id="chromseq._keys.{n}"' in html for n in constants)


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_page_shows_its_figures(built, name):
    _, out = built
    sources = re.findall(r'<img [^>]*src="([^"]+\.png)"', tutorial_page(out, name))
    assert sources, f"{name}: the rendered page has no figure (was the notebook executed?)"
    missing = [s for s in sources if not (out / "tutorials" / s).resolve().is_file()]
    assert not missing, f"{name}: figures missing from the build: {missing}"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_page_has_no_error_or_warning_output(built, name):
    html = tutorial_page(built[1], name)
    assert 'class="output traceback' not in html, f"{name}: a cell raised"
    stderr = re.findall(r'<div class="output stderr[^"]*">(.*?)</div>\s*</div>', html, flags=re.S)
    problems = [m.group(0) for block in stderr if (m := PROBLEM.search(re.sub(r"<[^>]+>", "", block)))]
    assert not problems, f"{name}: cells print {problems} on stderr; fix the cause (users see it on the page)"
