"""Package attributes imported on first use (PEP 562 `__getattr__`).

`nonlocal_tf`, `nonlocal_tf.data`, `.training` and `.export` are lazy: their
public names import the module that defines them when first read, so that
importing a light module of theirs (the REST client, `clip_spec`, the
annotations reader of the preparation workers) does not load TensorFlow or
Keras. `layers`, `models` and `zoo` import eagerly: Keras is their point.

Example:
    >>> from nonlocal_tf import lazy_imports
    >>> __getattr__, __dir__, __all__ = lazy_imports.attach(
    ...     __name__, {"build_dataset": ".pipeline"})  # doctest: +SKIP
"""

import importlib
import importlib.util
import sys


def attach(package, exports):
    """`(__getattr__, __dir__, __all__)` for a package's `__init__`.

    Args:
        package: The package's `__name__`.
        exports: `{public name: module}`; the module is relative to the
            package (`".pipeline"`) or absolute (`"nonlocal_tf.data.x"`).

    Returns:
        The three module attributes: a name in `exports` imports its module
        when read; any other name that is a submodule imports the submodule
        (as an eager `__init__` would have made it an attribute).
    """

    def getattr_(name):
        if name in exports:
            module = importlib.import_module(exports[name], package)
            return getattr(module, name)
        if not name.startswith("__") and importlib.util.find_spec(
            f"{package}.{name}"
        ):
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return getattr_, dir_, sorted(exports)
