"""Count the structural debts of issue 21: package cycles, private imports across packages, pl -> tl imports.

Run from the repository root: ``python scripts/structure_counts.py [SRC]`` (``SRC``: another copy of
``src/chromseq``, e.g. one extracted with ``git archive``). Uses only ``ast`` (nothing is imported).
Package cycles count runtime imports; private imports across packages count every import statement,
``if TYPE_CHECKING:`` ones included (they tie the code to the module as much as the others).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "src" / "chromseq"
PACKAGES = ("pp", "io", "tl", "pl", "train", "models", "data", "datasets", "store")


def module_name(path: Path) -> str:
    """Dotted module name of a source file."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], *, typing: bool = False) -> list[tuple[int, str]]:
    """Return (line, imported module) of each import statement (``typing``: also under TYPE_CHECKING) (``from a import b``: ``a.b`` when a module)."""
    module = module_name(path)
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if not typing and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            names = {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
            found += [(node.lineno, n) for n in sorted(names)]
    return found


def package(module: str) -> str | None:
    """Return the subpackage of a module (``chromseq.tl._x`` -> ``tl``), None for top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (SRC / parts[1]).is_dir()) else None


def statements(*, typing: bool = False) -> list[tuple[str, int, str]]:
    """Return (module, line, imported chromseq module) of every import statement inside chromseq."""
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    return [(m, line, t) for m, p in paths.items() for line, t in imports(p, set(paths), typing=typing) if t in paths]


def private_cross(stmts) -> list[tuple[str, int, str]]:
    """Return the imports that reach a private module of another subpackage (``chromseq.tl._x`` from outside tl)."""
    out = []
    for m, line, t in stmts:
        tp = package(t)
        if tp and tp != package(m) and t.split(".")[-1].startswith("_") and len(t.split(".")) == 3:
            out.append((m, line, t))
    return out


def package_cycles(stmts) -> list[list[str]]:
    """Strongly connected components (size > 1) of the graph of subpackages."""
    graph = {p: set() for p in PACKAGES}
    for m, _, t in stmts:
        a, b = package(m), package(t)
        if a in graph and b in graph and a != b:
            graph[a].add(b)
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return comps


def main() -> int:
    """Print the counts and the offending imports."""
    stmts = statements()
    cross = private_cross(statements(typing=True))
    pl_tl = [(m, line, t) for m, line, t in stmts if package(m) == "pl" and package(t) == "tl"]
    print("package cycles:", package_cycles(stmts))
    print(f"private imports across packages: {len(cross)}")
    for m, line, t in cross:
        print(f"  {m}:{line} -> {t}")
    print(f"pl -> tl import statements: {len(pl_tl)}")
    for m, line, t in pl_tl:
        print(f"  {m}:{line} -> {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
