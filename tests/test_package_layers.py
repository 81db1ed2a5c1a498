"""The package's layers, read from its source (every import, also those inside functions):

- the Mask R-CNN engine (``fashion_seg.mrcnn``) knows nothing of fashion: it imports only itself and the leaf
  modules every layer shares (errors, atomic writes, JSON reading);
- no two subpackages import each other, directly or through others (the tree reads as the data flow: data ->
  mrcnn engine -> prediction -> evaluation, with trainer and remote on top);
- no two modules of the package share a file name, so a stack trace names one file.
"""

import ast
from collections import defaultdict
from pathlib import Path

import fashion_seg

PACKAGE = Path(fashion_seg.__file__).parent
LEAVES = {"fashion_seg.errors", "fashion_seg.atomic", "fashion_seg.json_files"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The ``fashion_seg`` modules ``path`` imports, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import rle`
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


def layer(module: str) -> str:
    """The subpackage of a module (``fashion_seg.data.synthetic.writer`` -> ``data``); the other top-level modules
    (checkpoints, plots, drawing, the CLI helpers) form one layer, the leaves another."""
    if module in LEAVES:
        return "leaves"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "fashion_seg"


def graph() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        edges[module_name(path)] |= imported_modules(path)
    return edges


def test_the_engine_imports_only_itself_and_the_leaves():
    outside = {(module, target) for module, targets in graph().items() if module.startswith("fashion_seg.mrcnn")
               for target in targets if not target.startswith("fashion_seg.mrcnn") and target not in LEAVES}
    assert outside == set()


def test_no_two_subpackages_depend_on_each_other():
    layers = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if layer(module) != layer(target):
                layers[layer(module)].add(layer(target))
    cycles = []

    def visit(node, path):
        for successor in sorted(layers[node]):
            if successor in path:
                cycles.append(path[path.index(successor):] + [successor])
            else:
                visit(successor, path + [successor])

    for start in sorted(layers):
        visit(start, [start])
    assert cycles == []
    assert "data" in layers["prediction"] and "mrcnn" in layers["data"]  # the graph was really read


def test_module_file_names_are_unique():
    names = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            names[path.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
