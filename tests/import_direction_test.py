"""Keeps the import direction of design.md true by parsing every module."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Importer prefix -> module prefixes it must never import.
FORBIDDEN = {
    "nonlocal_tf.layers": [
        "nonlocal_tf.models",
        "nonlocal_tf.data",
        "nonlocal_tf.training",
        "nonlocal_tf.export",
        "nonlocal_tf.zoo",
        "tensorflow",
        "scripts",
    ],
    "nonlocal_tf.models": [
        "nonlocal_tf.data",
        "nonlocal_tf.training",
        "nonlocal_tf.export",
        "nonlocal_tf.zoo",
        "tensorflow",
        "scripts",
    ],
    "nonlocal_tf.data": ["nonlocal_tf.zoo", "scripts"],
    "nonlocal_tf.training": ["nonlocal_tf.zoo", "scripts"],
    "nonlocal_tf.export": ["nonlocal_tf.zoo", "scripts"],
    "nonlocal_tf.zoo": [
        "nonlocal_tf.data",
        "nonlocal_tf.training",
        "nonlocal_tf.export",
        "tensorflow",
        "scripts",
    ],
    "nonlocal_tf": ["scripts"],
}


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "zoo":
        parts = ["nonlocal_tf", "zoo"] + parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts), path.name == "__init__.py"


def _imports(path):
    module, is_package = _module_name(path)
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            yield node.lineno, name
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def _sources():
    for top in ("nonlocal_tf", "zoo", "scripts"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _matches(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(
    "path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT))
)
def test_import_direction(path):
    module, _ = _module_name(path)
    problems = []
    for lineno, name in _imports(path):
        if name == "zoo" or name.startswith("zoo."):
            problems.append(
                f"line {lineno}: imports top-level `{name}`, "
                "not nonlocal_tf.zoo"
            )
        for importer, banned in FORBIDDEN.items():
            if not _matches(module, importer):
                continue
            for prefix in banned:
                if _matches(name, prefix):
                    problems.append(
                        f"line {lineno}: {module} must not import {name}"
                    )
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)
