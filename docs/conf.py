"""Sphinx configuration of the chromseq documentation.

Build (offline, warnings as errors): ``sphinx-build -W -b html docs docs/_build/html``.
Environment variables:

- ``CHROMSEQ_DOCS_INTERSPHINX=1``: also use intersphinx (needs the network); without it,
  third-party references are linked from the URL table in ``_ext/chromseq_docs.py``.
- ``CHROMSEQ_DOCS_EXECUTE``: myst-nb execution mode for notebooks (``cache`` by default,
  ``off`` to skip executing them for a quick look at the text; ``force`` to re-run them all, as
  ``tests/test_docs.py`` does).

The tutorials are notebooks in ``<repo>/tutorials/`` (committed without outputs). Sphinx reads
sources under ``docs/`` only, so they are copied into ``docs/tutorials/`` (git-ignored) when the
build starts, and executed there in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from importlib.metadata import metadata
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

# -- project --------------------------------------------------------------------------------------
_meta = metadata("chromseq")
project = _meta["Name"]
author = "chromseq developers"
copyright = f"{date.today().year}, {author}"
version = release = _meta["Version"]

# -- extensions -----------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx_autodoc_typehints",  # after napoleon
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxcontrib.bibtex",
    "chromseq_docs",
]
ONLINE = os.environ.get("CHROMSEQ_DOCS_INTERSPHINX", "0") == "1"
if ONLINE:
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "pandas": ("https://pandas.pydata.org/docs/", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    }

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = ["_templates"]
nitpicky = True
# Kept empty: third-party objects are linked by _ext/chromseq_docs.py (no network needed). Add an entry
# only for an object that no documentation anywhere describes.
# The private building blocks of the model families (bodies and shared bases) are named in the
# signatures and attributes of the public networks but have no page of their own.
nitpick_ignore: list[tuple[str, str]] = [
    ("py:class", name)
    for name in (
        "DilatedBody",
        "TopicBody",
        "DilatedCNN",
        "TopicCNN",
        "chromseq.models._dilated.DilatedBody",
        "chromseq.models._topic.TopicBody",
        "chromseq.models._family.FamilyNetwork",
        "chromseq.models._family.FamilyConfig",
    )
]

# -- autodoc / autosummary / napoleon / typehints -------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": False}
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
napoleon_use_ivar = True
typehints_defaults = "comma"
typehints_use_signature = False
typehints_use_signature_return = False
always_use_bars_union = True
typehints_document_rtype = True
typehints_use_rtype = False

# -- myst / myst-nb -------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "substitution"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("CHROMSEQ_DOCS_EXECUTE", "cache")
nb_execution_timeout = 900  # per cell, in seconds
nb_execution_in_temp = True  # the tutorials write files (models, .h5ad, FASTA): not into docs/
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# -- bibliography ---------------------------------------------------------------------------------
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "plain"
bibtex_reference_style = "author_year"

# -- html -----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "chromseq"
html_theme_options = {
    "repository_url": "https://github.com/chromseq/chromseq",
    "use_repository_button": True,
    "path_to_docs": "docs/",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False

# -- tutorials ------------------------------------------------------------------------------------
TUTORIALS_SRC = HERE.parent / "tutorials"
TUTORIALS_DST = HERE / "tutorials"


def copy_tutorials(app=None) -> None:
    """Copy ``tutorials/*.ipynb`` into ``docs/tutorials/`` (only changed files; stale copies removed)."""
    if not TUTORIALS_SRC.is_dir():
        return
    sources = {p.name: p for p in TUTORIALS_SRC.glob("*.ipynb")}
    for name, src in sources.items():
        dst = TUTORIALS_DST / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)  # unchanged copies keep their mtime: Sphinx does not re-read them
    for dst in TUTORIALS_DST.glob("*.ipynb"):
        if dst.name not in sources:
            dst.unlink()


def setup(app):
    app.connect("builder-inited", copy_tutorials)
