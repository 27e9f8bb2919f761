"""The public API follows the conventions of STYLE.md: signatures, docstrings, static ``__all__``, docs/api.md."""

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chromseq

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "chromseq"
#: Subpackages whose functions work on AnnData (scanpy conventions apply).
ANNDATA_SUBPACKAGES = ("pp", "tl", "pl", "datasets", "io")
#: All public subpackages (documented in docs/api.md).
SUBPACKAGES = (*ANNDATA_SUBPACKAGES, "models", "data")
MAX_POSITIONAL = 3
SECTION = re.compile(r"^(?P<name>[A-Z][A-Za-z ]+)\n-{3,}\n", re.MULTILINE)


def public_functions(subpackages):
    """(qualified name, function) of every function in the ``__all__`` of ``subpackages``."""
    found = []
    for sub in subpackages:
        module = importlib.import_module(f"chromseq.{sub}")
        found += [(f"{sub}.{n}", getattr(module, n)) for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    return found


def skip_placeholder(func):
    """Modules still being written raise NotImplementedError; their conventions are checked once they land."""
    doc = sys.modules[func.__module__].__doc__ or ""
    if doc.startswith("Placeholder"):
        pytest.skip(f"{func.__module__} is a placeholder")


def sections(doc: str) -> dict[str, str]:
    """Numpydoc sections of a docstring: {title: body}."""
    heads = list(SECTION.finditer(doc))
    return {
        m["name"]: doc[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(doc)] for i, m in enumerate(heads)
    }


def documented_parameters(body: str) -> list[str]:
    """Names of the entries of a Parameters section (unindented lines; ``a, b`` documents both)."""
    names = []
    for line in body.splitlines():
        if line.strip() and not line[0].isspace():
            names += [n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")]
    return names


ANNDATA_FUNCTIONS = public_functions(ANNDATA_SUBPACKAGES)
ALL_FUNCTIONS = public_functions(SUBPACKAGES)
ids = [name for name, _ in ALL_FUNCTIONS]
anndata_ids = [name for name, _ in ANNDATA_FUNCTIONS]


@pytest.mark.parametrize(("name", "func"), ANNDATA_FUNCTIONS, ids=anndata_ids)
def test_adata_first_and_few_positional_parameters(name, func):
    skip_placeholder(func)
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert not any(p.kind == p.VAR_POSITIONAL for p in params), f"{name} takes *args"
    assert len(positional) <= MAX_POSITIONAL, f"{name}: make all but {MAX_POSITIONAL} parameters keyword-only"
    if "adata" in (p.name for p in params):
        assert params[0].name == "adata", f"{name}: adata must come first"


@pytest.mark.parametrize(("name", "func"), ANNDATA_FUNCTIONS, ids=anndata_ids)
def test_copy_and_plot_options_are_keyword_only(name, func):
    skip_placeholder(func)
    params = inspect.signature(func).parameters
    defaults = {"copy": False, "ax": None, "show": None}
    for key in (k for k in defaults if k in params):
        assert params[key].kind == params[key].KEYWORD_ONLY, f"{name}: {key} must be keyword-only"
        assert params[key].default is defaults[key], f"{name}: {key} should default to {defaults[key]}"
    if name.startswith("pl."):
        assert "show" in params, f"{name}: plots take show: bool | None = None"


@pytest.mark.parametrize(("name", "func"), ALL_FUNCTIONS, ids=ids)
def test_fully_type_hinted(name, func):
    skip_placeholder(func)
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without type hints: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type hint"


@pytest.mark.parametrize(("name", "func"), ALL_FUNCTIONS, ids=ids)
def test_docstring_documents_every_parameter_without_types(name, func):
    skip_placeholder(func)
    doc = inspect.getdoc(func) or ""
    params = [p.name for p in inspect.signature(func).parameters.values()]
    found = sections(doc)
    if params:
        assert "Parameters" in found, f"{name}: no numpydoc Parameters section"
        documented = documented_parameters(found["Parameters"])
        assert sorted(documented) == sorted(params), f"{name}: documents {documented}, signature has {params}"
        typed = [line for line in found["Parameters"].splitlines() if line and not line[0].isspace() and " : " in line]
        assert not typed, f"{name}: types belong in the signature, not the docstring: {typed}"


@pytest.mark.parametrize(("name", "func"), ALL_FUNCTIONS, ids=ids)
def test_docstring_says_what_is_returned(name, func):
    skip_placeholder(func)
    doc = inspect.getdoc(func) or ""
    assert doc.split("\n", 1)[0].strip(), f"{name}: no summary line"
    returns_none = inspect.signature(func).return_annotation in (None, "None")
    assert returns_none or "Returns" in sections(doc), f"{name}: no numpydoc Returns section"


@pytest.mark.parametrize(("name", "func"), ANNDATA_FUNCTIONS, ids=anndata_ids)
def test_docstring_has_an_example(name, func):
    skip_placeholder(func)
    assert "Examples" in sections(inspect.getdoc(func) or ""), f"{name}: add a short Examples section"


def static_all(path: Path) -> list[str]:
    """The ``__all__`` of a module source, which must be a literal list of strings."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            assert isinstance(node.value, ast.List | ast.Tuple), f"{path}: __all__ must be a literal list"
            assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts), path
            return [e.value for e in node.value.elts]
    raise AssertionError(f"{path} has no __all__")


@pytest.mark.parametrize("sub", ["", *SUBPACKAGES])
def test_all_is_static_and_complete(sub):
    module = importlib.import_module(f"chromseq.{sub}" if sub else "chromseq")
    names = static_all(SRC / sub / "__init__.py")
    assert names == list(module.__all__)
    assert len(set(names)) == len(names), "duplicated names in __all__"
    assert all(hasattr(module, n) for n in names)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(v) or inspect.isclass(v))
        and getattr(v, "__module__", "").startswith("chromseq")
    }
    assert public <= set(names), f"public but not in __all__: {sorted(public - set(names))}"


def api_md_entries() -> list[str]:
    """Names listed in the autosummary tables of docs/api.md (``pp.read_regions``, ``Genome``...)."""
    text = (ROOT / "docs" / "api.md").read_text()
    entries = []
    for block in re.findall(r"\.\. autosummary::\n((?:   .*\n|\n)+)", text):
        entries += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith(":")]
    return entries


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_api_md_lists_exactly_the_public_names(sub):
    module = importlib.import_module(f"chromseq.{sub}")
    listed = [e.split(".", 1)[1] for e in api_md_entries() if e.startswith(f"{sub}.")]
    assert sorted(listed) == sorted(module.__all__), f"docs/api.md and chromseq.{sub}.__all__ differ"


def test_api_md_lists_the_top_level_objects():
    top = [n for n in chromseq.__all__ if not inspect.ismodule(getattr(chromseq, n)) and n != "__version__"]
    assert sorted(e for e in api_md_entries() if "." not in e) == sorted(top)


def test_import_has_no_side_effects():
    code = """
import logging, os
env = dict(os.environ)
root = list(logging.getLogger().handlers)
level, handlers = logging.getLogger("chromseq").level, list(logging.getLogger("chromseq").handlers)
import chromseq
assert dict(os.environ) == env, "environment changed"
assert list(logging.getLogger().handlers) == root, "root logger changed"
assert logging.getLogger("chromseq").level == level, "chromseq logger level changed"
assert list(logging.getLogger("chromseq").handlers) == handlers, "chromseq logger handlers changed"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_shared_doc_block_must_have_its_placeholder():
    from chromseq._docs import fill_docs

    def documented():
        """Do nothing.

        Parameters
        ----------
            {show_save}
        """

    assert "Show the figure" in fill_docs(show_save="show\n    Show the figure.")(documented).__doc__
    with pytest.raises(ValueError, match="no line '{ax}'"):
        fill_docs(ax="ax\n    Axes.")(documented)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` (never run, so no runtime import)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imported(node: ast.AST, module: str, is_package: bool, modules) -> list[str]:
    """Modules imported by an import statement (``from a import b``: ``a.b`` if a module, else ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    target = node.module or ""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """Runtime imports between chromseq's modules: module level and inside functions, not TYPE_CHECKING.

    Also ``'anndata'`` when a module imports anndata.
    """
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        out = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            for name in _imported(node, module, path.name == "__init__.py", paths):
                if name in paths:
                    out.add(name)
                elif name.split(".")[0] == "anndata":
                    out.add("anndata")
        graph[module] = out - {module}
    return graph


GRAPH = import_graph()
#: Layers, lowest first: shared helpers ("codes"), the core, what verbs store, the verbs, the command line.
CORE = ("data", "models", "train")
STORE = ("store",)
VERBS = ("pp", "tl", "pl", "io", "datasets")
APP = (
    "cli",
    "_cli_table",
    "_cli_steps",
    "_cli_checks",
    "_cli_variants",
    "_cli_design",
    "_demo",
    "_report",
    "_report_verdicts",
    "_report_regression",
)


def layer(module: str) -> int:
    """0 shared helpers, 1 core, 2 stored results, 3 verbs, 4 command line and the top-level package."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in APP:
        return 4
    return 3 if parts[1] in VERBS else 2 if parts[1] in STORE else 1 if parts[1] in CORE else 0


def test_import_graph_sees_function_level_and_relative_imports():
    assert "chromseq.train._spec" in GRAPH["chromseq.train._engine"]  # module level, absolute
    assert "chromseq.tl._fit_glue" in GRAPH["chromseq.tl._finetune"]  # relative
    assert "chromseq.store" in GRAPH["chromseq.io._tracks"]  # inside a function


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` with more than one node (its cycles)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles():
    """Tarjan's strongly connected components of the runtime import graph: all of size one."""
    assert strongly_connected(GRAPH) == []


#: The packages whose graph must stay acyclic (a module of one importing the other counts as an edge).
PACKAGES = ("pp", "io", "tl", "pl", "train", "models", "data", "datasets", "store", "_regions")


def package_of(module: str) -> str | None:
    """The subpackage a module belongs to (``chromseq.tl._predict`` -> ``tl``); None for top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else None


def test_no_package_cycles():
    """No cycle between subpackages: pp, io and tl once imported each other's private modules."""
    packages = {p: set() for p in PACKAGES}
    for module, targets in GRAPH.items():
        for target in targets:
            a, b = package_of(module), package_of(target)
            if a and b and a != b:
                packages[a].add(b)
    assert strongly_connected(packages) == []
    assert not any(t.startswith("chromseq.tl") for m, ts in GRAPH.items() if m.startswith("chromseq.pl.") for t in ts)


def import_statements() -> list[tuple[str, str]]:
    """(module, imported chromseq module) of every import statement, ``if TYPE_CHECKING:`` ones included."""
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    found = []
    for module, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text())):
            found += [(module, t) for t in _imported(node, module, path.name == "__init__.py", paths) if t in paths]
    return found


#: Imports that reach another package's private module, each with why it stays (at most 10). Everything else
#: goes through a package's ``__init__`` (``chromseq.store``, ``chromseq.train``, ``chromseq._regions``, ...).
PRIVATE_ACROSS = {
    ("chromseq._cli_steps", "chromseq.tl._add_model"): "is_keras_file: the CLI tells a Keras file from a name",
    ("chromseq._cli_steps", "chromseq.datasets._chromtransfer"): "the demo's bundled data and its CV reference",
    ("chromseq._report", "chromseq.datasets._chromtransfer"): "cv_reference: the report compares to the demo",
    ("chromseq.datasets._chromtransfer", "chromseq.pp._background"): "appends the bundle's stored background rows",
    ("chromseq.tl._variants", "chromseq.io._vcf"): "as_variant_table: one parser for VCF files and tables",
    ("chromseq.tl._add_model", "chromseq.models._io"): "weights_sha256: the record keeps the hash of the weights",
    (
        "chromseq.tl._fit_glue",
        "chromseq.models._io",
    ): "check_replaceable: a non-model folder is refused before training",
}


def test_private_imports_across_packages_are_few_and_listed():
    found = {
        (m, t)
        for m, t in import_statements()
        if package_of(t) != package_of(m) and len(t.split(".")) > 2 and t.rsplit(".", 1)[-1].startswith("_")
    }
    assert len(PRIVATE_ACROSS) <= 10
    assert sorted(found - set(PRIVATE_ACROSS)) == [], "import the package's public names, or list it with a reason"
    assert sorted(set(PRIVATE_ACROSS) - found) == [], "no longer imported: remove it from PRIVATE_ACROSS"


def test_imports_only_go_down_the_layers():
    """verbs -> core -> shared helpers; nothing below the command line imports it or the top-level package."""
    upward = [
        (m, t)
        for m, targets in GRAPH.items()
        for t in targets
        if t != "anndata" and layer(t) > layer(m) and not (layer(m) == 3 and t == "chromseq")
    ]
    assert upward == []


def test_training_core_is_torch_only():
    """``chromseq.train`` never imports AnnData, the verbs or the command line."""
    for module in (m for m in GRAPH if m.startswith("chromseq.train")):
        bad = [t for t in GRAPH[module] if t == "anndata" or layer(t) >= 2]
        assert bad == [], f"{module} imports {bad}"


def test_architecture_page_names_the_module_of_every_public_name():
    """docs/architecture.md: one hop from any public name to the file that defines it."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = {}
    for names, path in re.findall(r"^\| ((?:`\w+\.\w+`(?:, )?)+) \| `([\w/]+\.py)` \|$", text, re.MULTILINE):
        listed.update(dict.fromkeys(re.findall(r"`(\w+\.\w+)`", names), path))
    public = {f"{sub}.{n}" for sub in SUBPACKAGES for n in importlib.import_module(f"chromseq.{sub}").__all__}
    assert sorted(listed) == sorted(public)
    for name, path in listed.items():
        assert (SRC / path).is_file(), f"{name}: no {path}"
        sub, attr = name.split(".")
        obj = getattr(importlib.import_module(f"chromseq.{sub}"), attr)
        if hasattr(obj, "__module__") and not isinstance(obj, dict):
            assert obj.__module__ == "chromseq." + path[:-3].replace("/", "."), name
        else:
            assert re.search(rf"^{attr}\b", (SRC / path).read_text(), re.MULTILINE), name


_PRIVATE_ANNDATA = re.compile(r"\._(init_as_actual|init_as_view|adata_ref|oidx|vidx|remove_unused_categories)\b")
_COMPLEMENT_TABLE = re.compile(r"\[3, 2, 1, 0(, 4)?\]|\b3 - \w+\[")
_REGION_NAME_BUILT = re.compile(r"\":\" \+ .*\"-\"|f\"\{[^}]*\}:\{[^}]*\}-\{")


@pytest.mark.parametrize(
    ("pattern", "home", "what"),
    [
        (_PRIVATE_ANNDATA, "_anndata.py", "a private AnnData call"),
        (_COMPLEMENT_TABLE, "_codes.py", "a complement table"),
        (_REGION_NAME_BUILT, "_regions/_names.py", "a region name built by hand"),
    ],
)
def test_each_contract_has_one_home(pattern, home, what):
    package = Path(chromseq.__file__).parent
    found = [
        f"{path.relative_to(package)}:{n}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).as_posix() != home
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and "shown" not in line
    ]
    assert not found, f"{what} outside {home}: {found}"


def test_command_line_has_no_import_cycle():
    package = Path(chromseq.__file__).parent
    importers = [
        p.name for p in package.glob("_cli*.py") if re.search(r"from \.cli import|from chromseq\.cli", p.read_text())
    ]
    assert not importers, f"{importers} import chromseq.cli back (cli reads _cli_table; nothing imports cli)"


def _family_classes() -> set[str]:
    """Names of the classes a model family defines: every module and config class of ``chromseq.models``."""
    import torch

    from chromseq.models._registry import FAMILIES

    names = {f.config.__name__ for f in FAMILIES.values()}
    for module in [m for name, m in sys.modules.items() if name.startswith("chromseq.models.")]:
        names |= {
            n
            for n, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, torch.nn.Module) and v.__module__ == module.__name__
        }
    return names


def test_tl_names_no_network_class():
    """``tl`` builds and loads networks through the registry (``models.build``, ``load_model``), never by class."""
    classes = _family_classes()
    assert {"ChromTransfer", "ChromTransferConfig", "DilatedCNN", "TopicCNN"} <= classes
    found = []
    for path in sorted((SRC / "tl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.id] if isinstance(node, ast.Name) else [node.attr] if isinstance(node, ast.Attribute) else []
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [alias.name.split(".")[-1] for alias in node.names]
            found += [f"{path.relative_to(SRC)}:{node.lineno} {n}" for n in names if n in classes]
    assert found == [], f"tl names network classes (use chromseq.models.build / ModelConfig): {found}"
