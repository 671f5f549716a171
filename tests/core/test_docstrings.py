"""Every public function, class and method of the package says what it is for (issue 14: "a
public function without a docstring is the exception"), read from the source with ``ast``.

A method that overrides a documented method of its base class (or of the protocol it
implements: ``SqlStore`` is the ``Store`` protocol's implementation) is documented there.
Functions nested in other functions (Flask views, closures) are not public API.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "monitor"
#: classes that implement a protocol without naming it as a base
IMPLEMENTS = {"SqlStore": "Store"}

Methods = dict[str, bool]  # method name -> has a docstring


def _classes(trees: dict[Path, ast.Module]) -> dict[str, tuple[list[str], Methods]]:
    out: dict[str, tuple[list[str], Methods]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).split("[")[0].split(".")[-1] for b in node.bases]
                bases += [IMPLEMENTS[node.name]] if node.name in IMPLEMENTS else []
                methods = {
                    m.name: ast.get_docstring(m) is not None
                    for m in node.body
                    if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                }
                out.setdefault(node.name, (bases, methods))
    return out


def _documented_above(classes: dict[str, tuple[list[str], Methods]], cls: str, name: str) -> bool:
    seen: set[str] = set()
    todo = list(classes.get(cls, ([], {}))[0])
    while todo:
        base = todo.pop()
        if base in seen or base not in classes:
            continue
        seen.add(base)
        bases, methods = classes[base]
        if methods.get(name):
            return True
        todo += bases
    return False


def undocumented() -> list[str]:
    trees = {p: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}
    classes = _classes(trees)
    missing = []
    for path, tree in trees.items():
        where = path.relative_to(PACKAGE.parent)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            if ast.get_docstring(node) is None:
                missing.append(f"{where}:{node.lineno} {node.name}")
            if not isinstance(node, ast.ClassDef):
                continue
            for m in node.body:
                if (
                    isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not m.name.startswith("_")
                    and ast.get_docstring(m) is None
                    and not _documented_above(classes, node.name, m.name)
                ):
                    missing.append(f"{where}:{m.lineno} {node.name}.{m.name}")
    return missing


def test_every_public_function_class_and_method_has_a_docstring() -> None:
    """No public name of the package goes without a docstring (overrides inherit theirs)."""
    missing = undocumented()
    assert not missing, f"{len(missing)} without a docstring:\n" + "\n".join(missing)


def test_the_check_sees_a_missing_docstring(tmp_path: Path) -> None:
    """The check is not blind: an undocumented method that overrides nothing documented is
    found, one that overrides a documented base method is not."""
    source = (
        "class Base:\n"
        "    def run(self):\n        '''Runs.'''\n"
        "class Child(Base):\n    '''A child.'''\n"
        "    def run(self):\n        pass\n"
        "    def stop(self):\n        pass\n"
    )
    tree = ast.parse(source)
    classes = _classes({tmp_path / "m.py": tree})
    assert _documented_above(classes, "Child", "run")
    assert not _documented_above(classes, "Child", "stop")
