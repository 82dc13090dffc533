"""The package's layers, an import scanner, and the drawing in docs/design.md.

A group is a top-level module or subpackage of `predrnn_keras`; every
`__main__.py` belongs to `cli`, the command lines. A module may import its
own group, its own layer and the layers below it, never above, not even
inside a function, and the groups may not import each other in a cycle.
The package root, `predrnn_keras/__init__.py`, is the facade: it may import
anything, and nothing inside the package imports it.

    python -m tests.layering            # lists the violations
    python -m tests.layering --write    # redraws docs/design.md's drawing
"""

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "predrnn_keras"
DESIGN = REPO / "docs" / "design.md"
START = "<!-- package-drawing:start -->"
END = "<!-- package-drawing:end -->"

# Low to high: (what the layer holds, its groups).
LAYERS = (
    (
        "base",
        (
            "utils",
            "keras_import",
            "xla_flags",
            "runtime",
            "hardware",
            "registry",
        ),
    ),
    ("layers", ("backends", "layers")),
    ("shipped models", ("pretrained",)),
    ("models", ("models",)),
    ("scores and plots", ("metrics", "plots")),
    ("nowcasting", ("nowcasting",)),
    ("forecasters", ("forecasters",)),
    ("data and its kinds", ("data",)),
    ("recipes", ("recipe_schema", "recipe_config", "recipe_docs")),
    ("runs", ("run_folder", "distribution", "callbacks")),
    ("workflows", ("training", "evaluation", "predict", "export", "convert")),
    ("command lines", ("cli",)),
)
FACADE = "facade"
# Group -> layer number; the facade sits above everything.
LAYER = {
    **{g: n for n, (_, groups) in enumerate(LAYERS) for g in groups},
    FACADE: len(LAYERS),
}


@dataclasses.dataclass(frozen=True, order=True)
class Import:
    """One import statement's target, in one module of the package."""

    path: str  # relative to the scanned root's parent, with "/"
    line: int
    importer: str  # the importing module, dotted
    target: str  # the imported module, dotted

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at `path` in the package at `root`."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    """Whether the dotted `name` is a module or package under `root`."""
    path = root.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolve_relative(node: ast.ImportFrom, importer: str, is_package: bool):
    base = importer.split(".")
    if not is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path, root: Path) -> list:
    """The imports of the package in one file: at module level and in
    functions and classes alike; `from P import x` is an import of `P.x`
    when `x` is a module, else of `P`."""
    package = root.name
    importer = module_name(path, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root.parent).as_posix()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                module = _resolve_relative(
                    node, importer, path.name == "__init__.py"
                )
            else:
                module = node.module
            targets = []
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                if alias.name != "*" and _is_module(candidate, root):
                    targets.append(candidate)
                else:
                    targets.append(module)
        else:
            continue
        for target in targets:
            if target == package or target.startswith(package + "."):
                found.append(Import(rel, node.lineno, importer, target))
    return found


def scan(root: Path = REPO / PACKAGE) -> list:
    """Every import of the package by the package's own modules, sorted."""
    return sorted(
        imp for path in root.rglob("*.py") for imp in imports_of(path, root)
    )


def group(module: str) -> str:
    """The group of a dotted module name: its top-level module or
    subpackage, `cli` for any `__main__`, the facade for the root."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 else FACADE


def groups(root: Path = REPO / PACKAGE) -> list:
    """The groups the package at `root` holds, low to high."""
    found = {
        group(module_name(path, root))
        for path in root.rglob("*.py")
        if path.parent != root or path.name != "__init__.py"
    }
    return sorted(found, key=lambda g: (LAYER.get(g, -1), g))


def group_edges(imports) -> dict:
    """(importer group, imported group) -> the imports, between different
    groups; the facade's own imports are left out (it may import anything)."""
    edges = {}
    for imp in imports:
        a, b = group(imp.importer), group(imp.target)
        if a != b and a != FACADE:
            edges.setdefault((a, b), []).append(imp)
    return edges


def _describe(imp: Import) -> str:
    a, b = group(imp.importer), group(imp.target)
    return (
        f"{imp.where()} imports {imp.target} "
        f"(layer {LAYER.get(a, '?')} {a} -> layer {LAYER.get(b, '?')} {b})"
    )


def _cycles(edges) -> list:
    """The strongly connected sets of two or more groups (Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def bad_edges(edges) -> dict:
    """The group edges that break the rule: (a, b) -> why, "up" or the
    cycle's groups. Groups the order does not list are left out."""
    bad, same_layer = {}, []
    for a, b in edges:
        if a not in LAYER or b not in LAYER:
            continue
        if LAYER[b] > LAYER[a]:
            bad[a, b] = "up"
        elif LAYER[b] == LAYER[a]:
            same_layer.append((a, b))
    # Allowed edges only go down or sideways: a cycle of them lies within
    # one layer (a cycle through an upward import is reported as "up").
    for component in _cycles(same_layer):
        for a, b in same_layer:
            if a in component and b in component:
                bad[a, b] = f"in a cycle of {', '.join(component)}"
    return bad


def violations(imports) -> list:
    """What breaks the rule, one line per import: a group the order does
    not list, an import that goes up, and the imports that tie groups of
    one layer into a cycle."""
    problems = []
    unknown = set()
    for imp in imports:
        for g in (group(imp.importer), group(imp.target)):
            if g not in LAYER and g not in unknown:
                unknown.add(g)
                problems.append(
                    f"{imp.where()}: group {g!r} is not in tests/layering.py"
                    "'s LAYERS"
                )
    edges = group_edges(imports)
    bad = bad_edges(edges)
    upward = sorted(
        imp for edge, why in bad.items() if why == "up" for imp in edges[edge]
    )
    problems.extend(_describe(imp) for imp in upward)
    problems.extend(
        f"{_describe(imp)}, {why}"
        for edge, why in sorted(bad.items())
        if why != "up"
        for imp in edges[edge]
    )
    return problems


def drawing(root: Path = REPO / PACKAGE) -> str:
    """What docs/design.md shows between its markers: the order as a table,
    then the flowchart of the package."""
    return f"{order_table()}\n\n{flowchart(root)}"


def order_table() -> str:
    """The layers and their groups, low to high, as a Markdown table."""
    rows = ["| layer | groups |", "|---|---|"]
    for number, (title, members) in enumerate(LAYERS):
        names = ", ".join(f"`{g}`" for g in members)
        if "cli" in members:
            names += " and every `__main__.py`"
        rows.append(f"| {number} {title} | {names} |")
    return "\n".join(rows)


def flowchart(root: Path = REPO / PACKAGE) -> str:
    """The Mermaid flowchart of the groups by layer and the imports
    between groups; those that break the rule dashed and red."""
    present = groups(root)
    edges = group_edges(scan(root))
    lines = ["```mermaid", "flowchart TB"]
    targets = {b for _, b in edges}
    if FACADE in targets:
        lines.append(f'    subgraph L{LAYER[FACADE]}["the package root"]')
        lines.append(f'        {FACADE}["predrnn_keras (facade)"]')
        lines.append("    end")
    for number in range(len(LAYERS) - 1, -1, -1):
        title, members = LAYERS[number]
        members = [g for g in members if g in present]
        if not members:
            continue
        lines.append(f'    subgraph L{number}["{number} {title}"]')
        lines.extend(f"        {g}" for g in members)
        lines.append("    end")
    others = sorted({*present, *targets} - {*LAYER})
    if others:
        lines.append('    subgraph outside["not in the order"]')
        lines.extend(f"        {g}" for g in others)
        lines.append("    end")
    bad = bad_edges(edges)
    red = []
    for number, (a, b) in enumerate(sorted(edges)):
        if (a, b) in bad:
            label = "up" if bad[a, b] == "up" else "cycle"
            lines.append(f"    {a} -. {label} .-> {b}")
            red.append(str(number))
        else:
            lines.append(f"    {a} --> {b}")
    if red:
        lines.append(f"    linkStyle {','.join(red)} stroke:red")
    lines.append("```")
    return "\n".join(lines)


def drawn(path: Path = DESIGN) -> str:
    """The drawing between the markers of `path`."""
    text = path.read_text()
    head, _, rest = text.partition(START)
    body, found, _ = rest.partition(END)
    if not head or not found:
        raise ValueError(f"{path}: no {START} ... {END} markers")
    return body.strip("\n")


def write_drawing(path: Path = DESIGN) -> bool:
    """Redraws the drawing between the markers; True if it changed."""
    text = path.read_text()
    old = drawn(path)
    new = drawing()
    if old == new:
        return False
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{new}\n{END}{tail}")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"redraw {DESIGN.name}"
    )
    args = parser.parse_args(argv)
    if args.write:
        changed = write_drawing()
        print(f"{DESIGN}: {'redrawn' if changed else 'current'}")
    problems = violations(scan())
    print("\n".join(problems) or "No layer violations.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
