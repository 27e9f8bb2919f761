"""Sphinx helpers of the chromseq docs: offline links, numpydoc Returns without types, the model table.

- ``missing-reference``: links to third-party objects (Python, numpy, pandas, anndata, scanpy, torch,
  matplotlib, scipy) from a table of URL patterns, so that a ``nitpicky`` build needs no network.
  With ``CHROMSEQ_DOCS_INTERSPHINX=1`` intersphinx runs first and this is only the fallback.
- ``autodoc-process-docstring`` (before napoleon): a numpydoc ``Returns`` section written without
  types (our style: types live in the signature) becomes a ``:returns:`` field, so napoleon does not
  mistake its first line for a type; sphinx-autodoc-typehints adds the type from the annotation.
- ``chromseq-model-table`` directive: layer-by-layer shapes and parameter counts of the ChromTransfer
  presets, computed from :mod:`chromseq.models` at build time so that the model card cannot drift.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.nodes import make_refnode

PY = "https://docs.python.org/3/library/"
_BUILTIN_PAGE = {
    "str": "stdtypes.html#str",
    "list": "stdtypes.html#list",
    "dict": "stdtypes.html#dict",
    "tuple": "stdtypes.html#tuple",
    "set": "stdtypes.html#set",
    "bytes": "stdtypes.html#bytes",
    "None": "constants.html#None",
    "True": "constants.html#True",
    "False": "constants.html#False",
    "Ellipsis": "constants.html#Ellipsis",
}
#: Exact targets whose page does not follow a package's pattern.
EXACT = {
    "numpy.random.Generator": "https://numpy.org/doc/stable/reference/random/generator.html#numpy.random.Generator",
    "numpy.dtype": "https://numpy.org/doc/stable/reference/generated/numpy.dtype.html",
    "torch.Tensor": "https://docs.pytorch.org/docs/stable/tensors.html#torch.Tensor",
    "torch.device": "https://docs.pytorch.org/docs/stable/tensor_attributes.html#torch.device",
    "torch.dtype": "https://docs.pytorch.org/docs/stable/tensor_attributes.html#torch.dtype",
    "logging.Logger": PY + "logging.html#logging.Logger",
    "pooch": "https://www.fatiando.org/pooch/latest/",
}
#: (prefix, URL pattern with {name} = the full dotted name), first match wins.
PATTERNS = (
    ("typing.", PY + "typing.html#{name}"),
    ("collections.abc.", PY + "collections.abc.html#{name}"),
    ("os.", PY + "os.html#{name}"),
    ("pathlib.", PY + "pathlib.html#{name}"),
    ("numpy.", "https://numpy.org/doc/stable/reference/generated/{name}.html"),
    ("pandas.", "https://pandas.pydata.org/docs/reference/api/{name}.html"),
    ("anndata.", "https://anndata.readthedocs.io/en/stable/generated/{name}.html"),
    ("scanpy.", "https://scanpy.readthedocs.io/en/stable/generated/{name}.html"),
    ("scipy.", "https://docs.scipy.org/doc/scipy/reference/generated/{name}.html"),
    ("torch.", "https://docs.pytorch.org/docs/stable/generated/{name}.html"),
    ("matplotlib.", "https://matplotlib.org/stable/api/_as_gen/{name}.html"),
    ("sklearn.", "https://scikit-learn.org/stable/modules/generated/{name}.html"),
    ("pooch.", "https://www.fatiando.org/pooch/latest/api/generated/{name}.html"),
)
#: Packages documented by their source code: links go to the file of the object on GitHub.
SOURCE_REPOS = {
    "tangermeme": "https://github.com/jmschrei/tangermeme",
    "modiscolite": "https://github.com/jmschrei/tfmodisco-lite",
    "memelite": "https://github.com/jmschrei/memesuite-lite",
    "pyjaspar": "https://github.com/asntech/pyjaspar",
    "genomepy": "https://github.com/vanheeringen-lab/genomepy",
    "pyfaidx": "https://github.com/mdshw5/pyfaidx",
    "pyranges": "https://github.com/pyranges/pyranges",
}
#: Short names that type hints or docstrings use for the classes above.
ALIASES = {
    "AnnData": "anndata.AnnData",
    "ndarray": "numpy.ndarray",
    "np.ndarray": "numpy.ndarray",
    "DataFrame": "pandas.DataFrame",
    "pd.DataFrame": "pandas.DataFrame",
    "Path": "pathlib.Path",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "nn.Module": "torch.nn.Module",
}
_COLON = "\x00colon\x00"
#: ``chromseq.settings`` is an instance; its fields are documented on its class.
SETTINGS_ALIAS = ("chromseq.settings.", "chromseq._settings.ChromseqSettings.")


def external_url(target: str) -> str | None:
    """Return the documentation URL of a third-party or builtin object, or ``None``."""
    target = ALIASES.get(target, target).removeprefix("builtins.")
    if target in EXACT:
        return EXACT[target]
    if target in _BUILTIN_PAGE:
        return PY + _BUILTIN_PAGE[target]
    obj = getattr(builtins, target, None)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return PY + f"exceptions.html#{target}"
    if isinstance(obj, type) or callable(obj):
        return PY + f"functions.html#{target}"
    for prefix, pattern in PATTERNS:
        if target.startswith(prefix):
            return pattern.format(name=target)
    top = target.partition(".")[0]
    return _source_url(target, SOURCE_REPOS[top]) if top in SOURCE_REPOS else None


def _source_url(target: str, repo: str) -> str | None:
    """``<repo>/blob/HEAD/<file>`` of the longest importable module in ``target`` (repo root for a package)."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        if i == 1 and hasattr(module, "__path__"):
            return repo
        root = Path(importlib.import_module(parts[0]).__file__).parent.parent
        return f"{repo}/blob/HEAD/{Path(module.__file__).relative_to(root).as_posix()}"
    return None


def resolve_internal(app, env, node, contnode):
    """``missing-reference`` handler for our own objects under another name.

    ``chromseq.settings.<field>`` is documented as ``chromseq._settings.ChromseqSettings.<field>``; a bare
    name (``PRESETS`` in a summary table, where the current module differs from the object's) resolves to
    the one chromseq object with that name, if there is exactly one.
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"]
    if target.startswith(SETTINGS_ALIAS[0]):
        candidates = [SETTINGS_ALIAS[1] + target.removeprefix(SETTINGS_ALIAS[0])]
    elif "." not in target:
        candidates = [name for name in domain.objects if name.startswith("chromseq.") and name.endswith("." + target)]
    else:
        return None
    found = [name for name in candidates if name in domain.objects]
    if len(found) != 1:
        return None
    entry = domain.objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


def resolve_external(app, env, node, contnode):
    """``missing-reference`` handler: link Python-domain references to third-party docs."""
    if node.get("refdomain") != "py":
        return None
    url = external_url(node["reftarget"])
    if url is None:
        return None
    ref = nodes.reference("", "", internal=False, refuri=url, reftitle=node["reftarget"])
    ref += contnode
    return ref


def returns_as_field(app, what, name, obj, options, lines):
    """Mark an untyped numpydoc ``Returns`` section as description-only for napoleon (in place).

    Napoleon reads the first line of a ``Returns`` entry as its type. Our docstrings give no type
    (it is in the signature), so the body is indented under an empty entry (a lone ``:``): napoleon
    then writes a ``:returns:`` field with the whole text and no ``:rtype:``, which
    sphinx-autodoc-typehints fills from the annotation.
    """
    try:
        start = next(i for i in range(len(lines) - 1) if lines[i].strip() == "Returns" and _dashes(lines[i + 1]))
    except StopIteration:
        return
    end = next(
        (i for i in range(start + 2, len(lines) - 1) if lines[i].strip() and _dashes(lines[i + 1])),
        len(lines),
    )
    body = lines[start + 2 : end]
    first = next((line for line in body if line.strip()), "")
    if " : " in first or first.startswith((" ", "\t")):  # typed numpydoc ("name : type"): napoleon's job
        return
    while body and not body[-1].strip():
        body.pop()
    lines[start + 2 : end] = [":", *["    " + line if line.strip() else "" for line in body], ""]


def data_docstring(app, what, name, obj, options, lines):
    """Fix two ways the documentation of a constant or property goes wrong (in place).

    - A constant re-exported by a package (``chromseq.models.PRESETS``) has its ``#:`` comment in the
      defining submodule; autodoc would show the docstring of its type (``dict``) instead.
    - Napoleon reads ``text: more`` on the first line of an attribute's docstring as ``type: description``.
      Our docstrings give no types (they are in the signature): the colons of that line are hidden from
      napoleon and put back by :func:`restore_colons`.
    """
    if what not in ("data", "attribute", "property"):
        return
    type_doc = inspect.cleandoc(getattr(type(obj), "__doc__", None) or "")
    if what == "data" and type_doc and "\n".join(lines).strip() == type_doc.strip():
        lines[:] = _submodule_attr_doc(name) or []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if name.startswith("chromseq") and first is not None:
        lines[first] = lines[first].replace(":", _COLON)


def restore_colons(app, what, name, obj, options, lines):
    """Put back the colons hidden by :func:`data_docstring` (runs after napoleon)."""
    lines[:] = [line.replace(_COLON, ":") for line in lines]


def _submodule_attr_doc(name: str) -> list[str] | None:
    modname, _, attr = name.rpartition(".")
    try:
        package = importlib.import_module(modname)
    except ImportError:
        return None
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), modname + "."):
        docs = ModuleAnalyzer.for_module(info.name).find_attr_docs()
        if ("", attr) in docs:
            return list(docs[("", attr)])
    return None


def _dashes(line: str) -> bool:
    return len(line.strip()) >= 3 and set(line.strip()) == {"-"}


class ModelTable(Directive):
    """``.. chromseq-model-table::`` renders per-stage shapes and parameter counts of each preset."""

    has_content = False

    def run(self):
        from chromseq.models import PRESETS, ChromTransfer, count_parameters, get_config

        names = [n for n, c in PRESETS.items() if c.arch == "chromtransfer"]  # the stages of this family
        models = {n: ChromTransfer(get_config(n)) for n in names}
        finetune = {n: ChromTransfer(get_config(n, head="finetune", outputs=("celltype",))) for n in names}
        rows = []
        for label, get in _stages():
            cells = [f"{get(models[n].config)} / {count_parameters(_module(models[n], label)):,}" for n in names]
            rows.append([label, *cells])
        rows.append(["total, pre-training head", *[f"{count_parameters(models[n]):,}" for n in names]])
        rows.append(["total, one fine-tuning head", *[f"{count_parameters(finetune[n]):,}" for n in names]])
        header = ["stage", *[f"``{n}``: output / parameters" for n in names]]
        return self._table(header, rows)

    def _table(self, header, rows):
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for row in [header, *rows]:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        node = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, node)
        return node.children


class FamilyTable(Directive):
    """``.. chromseq-family-table::``: per preset of every family, its size, cost and receptive field."""

    has_content = False

    def run(self):
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for row in family_rows():
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        node = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, node)
        return node.children


def family_rows() -> list[list[str]]:
    """Header and one row per preset: arch, parameters (both heads), forward MFLOPs, receptive field (bp)."""
    from chromseq.models import PRESETS, build, count_flops, count_parameters, get_config

    rows = [["preset", "arch", "parameters (pre-training head)", "parameters (one fine-tuning head)",
             "forward MFLOP / 600-bp sequence", "receptive field (bp)"]]  # fmt: skip
    for name, config in PRESETS.items():
        finetune = get_config(name, head="finetune", outputs=("celltype",))
        rows.append([
            f"``{name}``", f"``{config.arch}``", f"{count_parameters(build(config)):,}",
            f"{count_parameters(build(finetune)):,}", f"{count_flops(config, seq_len=600) / 1e6:,.1f}",
            f"{config.receptive_field:,}",
        ])  # fmt: skip
    return rows


class KeysList(Directive):
    """``.. chromseq-keys::`` documents every constant of :mod:`chromseq._keys` with its value and ``#:`` comment.

    Read from the code at build time (autodoc would leave out the constants without a comment).
    """

    has_content = False

    def run(self):
        from chromseq import _keys

        analyzer = ModuleAnalyzer.for_module(_keys.__name__)
        docs = analyzer.find_attr_docs()
        order = analyzer.tagorder
        names = sorted((n for n in vars(_keys) if n.isupper() and n in order), key=order.__getitem__)
        lines = [f".. py:currentmodule:: {_keys.__name__}", ""]
        for name in names:
            lines += [f".. py:data:: {name}", f"   :value: {getattr(_keys, name)!r}", ""]
            lines += [f"   {line}" for line in docs.get(("", name), [])] + [""]
        lines += [f".. autofunction:: {_keys.__name__}.contrib_key", ""]
        node = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, node)
        return node.children


def _stages():
    """(stage label, config -> output description) in network order; labels name the body's modules."""
    return [
        (
            "stem",
            lambda c: (
                f"{c.stem_filters} ch, k={c.stem_kernel}" + (f", max pool {c.stem_pool}" if c.stem_pool > 1 else "")
            ),
        ),
        ("proj1", lambda c: f"{c.inner_filters // 2} ch, k={c.block_kernels[0]}"),
        ("stage1", lambda c: f"{c.n_blocks} x {c.inner_filters // 2} ch, k={c.block_kernels[1]}, concatenated"),
        ("proj2", lambda c: f"{c.inner_filters} ch, k={c.block_kernels[2]}"),
        ("stage2", lambda c: f"{c.n_blocks} x {c.inner_filters} ch, k={c.block_kernels[3]}"),
        ("tail", lambda c: f"{c.tail_filters} ch, k={c.tail_kernels[0]}"),
        ("last", lambda c: f"{c.tail_filters} ch, k={c.tail_kernels[1]}, global average pool"),
        ("heads", lambda c: "Dense " + "-".join(str(h) for h in (*c.pretrain_hidden, 1)) + " (pre-training)"),
    ]


def _module(model, label):
    return model.heads if label == "heads" else getattr(model.body, label)


def setup(app):
    """Register the handlers and the directive."""
    app.connect("missing-reference", resolve_internal, priority=800)
    app.connect("missing-reference", resolve_external, priority=900)
    app.connect("autodoc-process-docstring", returns_as_field, priority=400)
    app.connect("autodoc-process-docstring", data_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_colons, priority=600)
    app.add_directive("chromseq-model-table", ModelTable)
    app.add_directive("chromseq-family-table", FamilyTable)
    app.add_directive("chromseq-keys", KeysList)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
