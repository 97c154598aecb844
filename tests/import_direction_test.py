"""Keeps the import direction of design.md true by parsing every module.

Arrow = may import (docs/reference.md §9):

    scripts, nonlocal_tf.programs -> everything below
    nonlocal_tf.zoo -> models -> layers -> keras
    nonlocal_tf.training -> data, export;  nonlocal_tf.export -> data
    nonlocal_tf.{data, training, export} -> models.preprocessing (the clip
        spec's test transform; data imports nothing else of models)
    leaves (clip_spec, fileio, lazy_imports, locks, run_files, version) ->
        nothing of ours
    nonlocal_tf.visualization -> NumPy only

Every rule is a list of what a package must NOT import, except for the pure
leaves, whose rule lists all they may import besides the standard library;
imports inside functions count too (a lazy import is still a dependency).
"""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

PROGRAMS = ["nonlocal_tf.programs", "scripts"]
# Leaves that import only the standard library and the packages listed.
PURE_LEAVES = {"nonlocal_tf.visualization": ["numpy"]}
LEAVES = [
    "nonlocal_tf.clip_spec",
    "nonlocal_tf.fileio",
    "nonlocal_tf.lazy_imports",
    "nonlocal_tf.locks",
    "nonlocal_tf.run_files",
    "nonlocal_tf.version",
    *PURE_LEAVES,
]
TF_PACKAGES = ["nonlocal_tf.data", "nonlocal_tf.training", "nonlocal_tf.export"]

# Importer prefix -> module prefixes it must never import.
FORBIDDEN = {
    "nonlocal_tf.layers": [
        "nonlocal_tf.models",
        "nonlocal_tf.zoo",
        *TF_PACKAGES,
        "tensorflow",
        *PROGRAMS,
    ],
    "nonlocal_tf.models": [
        "nonlocal_tf.zoo",
        *TF_PACKAGES,
        "tensorflow",
        *PROGRAMS,
    ],
    "nonlocal_tf.zoo": [*TF_PACKAGES, "tensorflow", *PROGRAMS],
    "nonlocal_tf.data": [
        "nonlocal_tf.training",
        "nonlocal_tf.export",
        "nonlocal_tf.zoo",
        "nonlocal_tf.models",
        *PROGRAMS,
    ],
    "nonlocal_tf.export": [
        "nonlocal_tf.training",
        "nonlocal_tf.zoo",
        *PROGRAMS,
    ],
    "nonlocal_tf.training": ["nonlocal_tf.zoo", *PROGRAMS],
    **{
        leaf: ["nonlocal_tf.", "keras", "tensorflow", *PROGRAMS]
        for leaf in LEAVES
    },
    # Nothing in the library imports the programs built on it.
    "nonlocal_tf": PROGRAMS,
}
# Deliberate exceptions: (module or package, imported prefix) -> why.
ALLOWED = {
    ("nonlocal_tf.data", "nonlocal_tf.models.preprocessing"): (
        "the clip spec's test transform is written once, in keras.ops: the "
        "test pipeline's views and the clips' normalisation call it"
    ),
    ("nonlocal_tf.zoo.loading", "nonlocal_tf.training.checkpointing"): (
        "a run stopped before its final weights is read from its TensorFlow "
        "checkpoint; imported only then (a run's final.weights.h5 needs no "
        "TensorFlow)"
    ),
    ("nonlocal_tf.layers.chunked", "tensorflow"): (
        "the chunked backward needs a loop that runs one block at a time "
        "and stacks outputs unlike its carry; Keras's TensorFlow scan cannot, "
        "so tf.while_loop is imported there, under the TensorFlow backend only"
    ),
    ("nonlocal_tf.layers.batch_norm", "tensorflow"): (
        "the fused batch norm kernel of a training step, imported under the "
        "TensorFlow backend only (Keras 3 has no fused BatchNormalization)"
    ),
    # The leaf that reads TensorFlow's file systems, imported on first use.
    ("nonlocal_tf.fileio", "tensorflow"): "tf.io.gfile",
}


def _module_name(path, root):
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "zoo":
        parts = ["nonlocal_tf", "zoo"] + parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts), path.name == "__init__.py"


def _imports(path, root):
    module, is_package = _module_name(path, root)
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
            for alias in node.names:
                yield node.lineno, f"{name}.{alias.name}"


def _sources(root=ROOT):
    for top in ("nonlocal_tf", "zoo", "scripts"):
        yield from sorted((root / top).rglob("*.py"))


def _matches(name, prefix):
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def _allowed(module, name):
    return any(
        _matches(module, importer) and _matches(name, prefix)
        for importer, prefix in ALLOWED
    )


def _inside(module, prefix):
    """Whether `module` belongs to the package `prefix` bans (its own).

    A package may import itself; a prefix ending in a dot ("nonlocal_tf.":
    all of ours) bans everything under it but the module itself.
    """
    return not prefix.endswith(".") and _matches(module, prefix)


def _outside(name, allowed):
    """Whether `name` is neither standard library nor one of `allowed`."""
    top = name.split(".")[0]
    return top not in sys.stdlib_module_names and not any(
        _matches(name, prefix) for prefix in allowed
    )


def violations(path, root=ROOT):
    """The forbidden imports of one file, as readable lines."""
    module, _ = _module_name(path, root)
    only = PURE_LEAVES.get(module)
    problems = []
    for lineno, name in _imports(path, root):
        if only is not None and _outside(name, only):
            problems.append(
                f"line {lineno}: {module} imports only the standard library "
                f"and {', '.join(only)}, not {name}"
            )
        if name == "zoo" or name.startswith("zoo."):
            problems.append(
                f"line {lineno}: imports top-level `{name}`, "
                "not nonlocal_tf.zoo"
            )
        if _allowed(module, name) or name == module:
            continue
        for importer, banned in FORBIDDEN.items():
            if not _matches(module, importer):
                continue
            for prefix in banned:
                if _matches(name, prefix) and not _inside(module, prefix):
                    problems.append(
                        f"line {lineno}: {module} must not import {name}"
                    )
    return problems


@pytest.mark.parametrize(
    "path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT))
)
def test_import_direction(path):
    problems = violations(path)
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "relative, source, expected",
    [
        (
            "nonlocal_tf/data/planted.py",
            "from nonlocal_tf.training import trainer\n",
            "must not import nonlocal_tf.training",
        ),
        (
            "nonlocal_tf/data/planted.py",
            "from nonlocal_tf.models import video_classifier\n",
            "must not import nonlocal_tf.models.video_classifier",
        ),
        (
            "nonlocal_tf/export/planted.py",
            "def f():\n    from nonlocal_tf.training import evaluation\n",
            "must not import nonlocal_tf.training",
        ),
        (
            "nonlocal_tf/layers/planted.py",
            "from nonlocal_tf.models import video_classifier\n",
            "must not import nonlocal_tf.models",
        ),
        (
            "zoo/planted.py",
            "import tensorflow as tf\n",
            "must not import tensorflow",
        ),
        (
            "nonlocal_tf/training/planted.py",
            "from nonlocal_tf import zoo\n",
            "must not import nonlocal_tf.zoo",
        ),
        (
            "nonlocal_tf/clip_spec_extra.py",
            "from nonlocal_tf.programs import common\n",
            "must not import nonlocal_tf.programs",
        ),
        (
            "nonlocal_tf/models/planted.py",
            "from .. import programs\n",
            "must not import nonlocal_tf.programs",
        ),
        (
            "nonlocal_tf/clip_spec.py",
            "from nonlocal_tf.data import features\n",
            "must not import nonlocal_tf.data.features",
        ),
        (
            "nonlocal_tf/visualization.py",
            "def f():\n    from nonlocal_tf.models import attention\n",
            "must not import nonlocal_tf.models",
        ),
        (
            "nonlocal_tf/visualization.py",
            "import PIL.Image\n",
            "imports only the standard library and numpy, not PIL.Image",
        ),
    ],
)
def test_a_planted_violation_is_caught(tmp_path, relative, source, expected):
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text(source)
    problems = violations(path, root=tmp_path)
    assert any(expected in p for p in problems), problems


def test_allowed_imports_are_used():
    """An exception nobody needs any more is removed from ALLOWED."""
    used = set()
    for path in _sources():
        module, _ = _module_name(path, ROOT)
        for _, name in _imports(path, ROOT):
            for importer, prefix in ALLOWED:
                if _matches(module, importer) and _matches(name, prefix):
                    used.add((importer, prefix))
    assert used == set(ALLOWED)


def import_graph(root=ROOT):
    """`{module: {module it imports}}` over our sources (lazy imports too).

    An imported name resolves to the longest module of ours it starts with
    (`from nonlocal_tf.data import pipeline` -> `nonlocal_tf.data.pipeline`,
    `from nonlocal_tf.data import build_dataset` -> `nonlocal_tf.data`).
    Importing a submodule also runs its package's `__init__`, but that is
    not an edge: a package that re-exports its modules would otherwise be
    in a cycle with each of them.
    """
    paths = {_module_name(path, root)[0]: path for path in _sources(root)}
    graph = {}
    for module, path in paths.items():
        edges = set()
        for _, name in _imports(path, root):
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                target = ".".join(parts[:end])
                if target in paths:
                    if target != module:
                        edges.add(target)
                    break
        graph[module] = edges
    return graph


def import_cycles(graph):
    """The strongly connected components of more than one module, sorted."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_no_import_cycles():
    assert import_cycles(import_graph()) == []


def test_a_planted_cycle_is_caught(tmp_path):
    # Hidden as the old pipeline -> records_check -> pipeline one was: the
    # closing import sits inside a function.
    package = tmp_path / "nonlocal_tf" / "data"
    package.mkdir(parents=True)
    (tmp_path / "nonlocal_tf" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from .pipeline import build\n")
    (package / "pipeline.py").write_text(
        "from nonlocal_tf.data import positions\n\ndef build():\n    pass\n"
    )
    (package / "positions.py").write_text(
        "from nonlocal_tf.data.check import count\n"
    )
    (package / "check.py").write_text(
        "def count():\n    from nonlocal_tf.data.pipeline import build\n"
    )
    assert import_cycles(import_graph(tmp_path)) == [
        [
            "nonlocal_tf.data.check",
            "nonlocal_tf.data.pipeline",
            "nonlocal_tf.data.positions",
        ]
    ]
