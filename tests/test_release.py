"""Release hygiene: the wheel carries the package and its data, one version, citation metadata."""

import os
import site
import subprocess
import sys
import sysconfig
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


def running_site_packages() -> list[str]:
    """The site-packages folders of the interpreter running the tests (a venv's, or the system's)."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return sorted(p for p in paths if Path(p).is_dir())


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed offline; its dependencies come from the running environment.

    The new venv does not see the system Python (``--system-site-packages`` would, and the tests
    may run in a venv that the system Python lacks pandas, torch, ... for): a ``.pth`` file adds
    the running interpreter's site-packages folders after its own. Only the folders are added,
    not the ``.pth`` files in them, so an editable install of chromseq there stays out of sight.
    """
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout.strip()
    (Path(purelib) / "_chromseq_test_deps.pth").write_text("\n".join(running_site_packages()) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=300, env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env_dir


def clean_env() -> dict[str, str]:
    """The environment without ``PYTHONPATH`` and ``VIRTUAL_ENV``: the test venv's own paths only."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def test_installed_wheel_imports_and_loads_bundled_data(installed, tmp_path):
    """The wheel alone (no source tree) gives the package and its bundled dataset."""
    code = (
        "import chromseq, sys; from pathlib import Path; "
        "assert Path(chromseq.__file__).is_relative_to(Path(sys.prefix)), chromseq.__file__; "
        "print(chromseq.datasets.chromtransfer_chr20().n_vars)"
    )
    proc = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=clean_env(),
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
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean_env())
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


def install_block(path: Path) -> str:
    """The first fenced bash block of the ``## Install`` section."""
    text = path.read_text()
    section = text[text.index("## Install") :]
    return section[section.index("```bash") : section.index("```", section.index("```bash") + 3)]


def test_readme_and_docs_give_the_same_install_that_works():
    readme, docs = install_block(ROOT / "README.md"), install_block(ROOT / "docs" / "index.md")
    assert readme == docs
    assert "pip install -e ." in readme and "git clone" in readme
    commands = [line.split("#")[0].strip() for line in readme.splitlines()]
    assert "pip install chromseq" not in commands, "chromseq is not on a package registry"


def test_ci_runs_the_readme_test_command_in_a_fresh_venv():
    readme = (ROOT / "README.md").read_text()
    command = 'pip install torch==2.13.0 && pip install -e ".[dev,docs]" && python -m pytest -q'
    assert command in readme
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert lines[-1] == command
    assert any("-m venv .ci-venv" in line for line in lines) and "source .ci-venv/bin/activate" in lines
    assert ".ci-venv/" in (ROOT / ".gitignore").read_text().splitlines()
