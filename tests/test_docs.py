"""The Sphinx documentation builds offline with warnings as errors and shows what the code has."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).parents[1]
SUBPACKAGES = ("pp", "tl", "pl", "datasets", "io", "models")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build a copy of docs/ (so the checkout stays clean) without executing notebooks."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(
        ROOT / "docs", work / "docs", ignore=shutil.ignore_patterns("_build", "generated", "jupyter_execute")
    )
    shutil.copy(ROOT / "CHANGELOG.md", work / "CHANGELOG.md")
    if (ROOT / "tutorials").is_dir():
        shutil.copytree(ROOT / "tutorials", work / "tutorials")
    out = work / "html"
    env = {**os.environ, "CHROMSEQ_DOCS_EXECUTE": "off", "CHROMSEQ_DOCS_INTERSPHINX": "0", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(work / "doctrees")]
    proc = subprocess.run([*cmd, str(work / "docs"), str(out)], capture_output=True, text=True, env=env, timeout=300)
    return proc, out


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
    from chromseq.models import PRESETS, ChromTransfer, count_parameters

    _, out = built
    html = (out / "model.html").read_text()
    for preset in PRESETS.values():
        assert f"{count_parameters(ChromTransfer(preset)):,}" in html


def test_keys_page_documents_every_key_constant(built):
    from chromseq import _keys

    _, out = built
    html = (out / "keys.html").read_text()
    constants = [n for n in vars(_keys) if n.isupper()]
    assert constants and all(f'id="chromseq._keys.{n}"' in html for n in constants)
