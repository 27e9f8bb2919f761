"""Release hygiene: the wheel carries the package and its data, one version, citation metadata."""

import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import chromseq

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "src" / "chromseq"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel offline (no build isolation: hatchling comes with the dev extra)."""
    pytest.importorskip("hatchling", reason="pip install hatchling (in the dev extra) to build the wheel offline")
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("chromseq-*.whl")
    return path


def package_files() -> set[str]:
    """Every file the package ships: modules, data, py.typed (caches left out)."""
    files = (p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return {f"chromseq/{p.relative_to(PACKAGE).as_posix()}" for p in files}


def test_wheel_contains_modules_data_and_py_typed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chromseq/py.typed" in names
    missing = package_files() - names
    assert not missing, f"files left out of the wheel: {sorted(missing)}"


def test_wheel_declares_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as z:
        entry_points = z.read(next(n for n in z.namelist() if n.endswith("entry_points.txt"))).decode()
    assert "chromseq = chromseq.cli:main" in entry_points


def test_version_is_defined_once(wheel):
    version = PYPROJECT["project"]["version"]
    assert wheel.name.startswith(f"chromseq-{version}-")
    assert chromseq.__version__ == version


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed offline; its dependencies come from this environment."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env_dir


def test_installed_wheel_imports_and_loads_bundled_data(installed, tmp_path):
    """The wheel alone (no source tree) gives the package and its bundled dataset."""
    code = (
        "import chromseq, sys; from pathlib import Path; "
        "assert Path(chromseq.__file__).is_relative_to(Path(sys.prefix)), chromseq.__file__; "
        "print(chromseq.datasets.chromtransfer_chr20().n_vars)"
    )
    proc = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "6"


def test_installed_console_script_runs_the_demo(installed, tmp_path):
    """``chromseq demo`` from the wheel's console script: one cell type, one epoch, no explaining (~1 min)."""
    script = installed / "bin" / "chromseq"
    assert script.read_text().splitlines()[0] == f"#!{installed / 'bin' / 'python'}"
    out = tmp_path / "demo"
    # --threads 1: one torch thread, as in the test session (tests/conftest.py)
    cmd = [str(script), "demo", "--out", str(out), "--quick", "--celltype", "HepG2", "--no-explain", "--threads", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "demo finished" in proc.stderr
    for name in ("chr20.h5ad", "metrics.csv", "report.md", "figures/roc.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = (out / "metrics.csv").read_text()
    assert "finetuned" in metrics and "HepG2" in metrics


def test_citation_cites_the_chromtransfer_paper():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    assert paper["doi"] == "10.1093/nargab/lqad026"
    assert [a["family-names"] for a in paper["authors"]][0] == "Salvatore"
    assert cff["license"] == PYPROJECT["project"]["license"]
    assert "version" not in cff, "the version lives in pyproject.toml only"


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert text.index("## [Unreleased]") == text.index("## ")
