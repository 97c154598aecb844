"""Adding non-local blocks to an existing functional Keras model."""

import difflib

import keras

from nonlocal_tf.layers import NonLocalBlock


def insert_nonlocal(model, after, **block_kwargs):
    """Returns a copy of `model` with a `NonLocalBlock` after named layers.

    The new model is a clone of the functional graph (`keras.models.
    clone_model`) in which the output of each layer named in `after` goes
    through a new `NonLocalBlock(**block_kwargs)` named
    `"<layer name>_nonlocal"` before reaching every layer that consumed it.
    All other layers are new layers with the original configuration and a copy
    of the original weights (equal values, not shared variables); the original
    model is left untouched. Since a block is an identity at initialisation,
    the new model computes the same function as the old one until trained.

    Args:
        model: a functional `keras.Model` (e.g. `keras.applications.ResNet50`).
            Sequential and subclassed models are rejected.
        after: name, or list of names, of top-level layers of `model` whose
            output is followed by a block. Each must have a single output of
            rank 3, 4 or 5 and be called once in the graph.
        **block_kwargs: `NonLocalBlock` arguments, shared by every block
            (`name` is not accepted; `dtype` defaults to the layer's dtype
            policy).

    Returns:
        A new functional `keras.Model` with the same inputs and name.

    Raises:
        ValueError: if `model` is not functional, `after` is empty or has
            duplicates, a name is not a layer of `model` (close names are
            suggested), or a named layer is shared.

    Example:

    >>> base = keras.applications.ResNet50(
    ...     weights=None, input_shape=(64, 64, 3))
    >>> model = insert_nonlocal(base, after=["conv4_block3_out"])
    >>> type(model.get_layer("conv4_block3_out_nonlocal")).__name__
    'NonLocalBlock'
    """
    if not _is_functional(model):
        raise ValueError(
            "insert_nonlocal needs a functional keras.Model (built with "
            "keras.Input and layer calls); Sequential and subclassed models "
            f"cannot be rewired. Received: {type(model).__name__}"
        )
    names = [after] if isinstance(after, str) else list(after)
    if not names:
        raise ValueError("insert_nonlocal needs at least one layer name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Layer names repeated in `after`: {duplicates}")
    if "name" in block_kwargs:
        raise ValueError(
            "Blocks are named '<layer name>_nonlocal'; do not pass `name`. "
            f"Received: name={block_kwargs['name']!r}"
        )
    known = [layer.name for layer in model.layers]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Close names: {close}." if close else ""
            raise ValueError(
                f"Model '{model.name}' has no layer named {name!r}.{hint}"
            )

    blocks = {}

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if layer.name not in names:
            return outputs
        if layer.name in blocks:
            raise ValueError(
                f"Layer {layer.name!r} is called more than once in model "
                f"'{model.name}'; insert_nonlocal needs a layer with a "
                "single call."
            )
        if not isinstance(outputs, keras.KerasTensor):
            raise ValueError(
                f"Layer {layer.name!r} has several outputs; a NonLocalBlock "
                "can only follow a single-output layer."
            )
        kwargs_for_block = {"dtype": layer.dtype_policy, **block_kwargs}
        block = NonLocalBlock(name=f"{layer.name}_nonlocal", **kwargs_for_block)
        blocks[layer.name] = block
        return block(outputs)

    new_model = keras.models.clone_model(
        model, input_tensors=_new_inputs(model), call_function=call_function
    )
    for layer in model.layers:
        new_model.get_layer(layer.name).set_weights(layer.get_weights())
    return new_model


def _new_inputs(model):
    """Fresh `keras.Input`s that keep the names of the model's input layers."""
    input_names = {
        id(layer.output): layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.InputLayer)
    }
    return keras.tree.map_structure(
        lambda t: keras.Input(
            batch_shape=t.shape,
            dtype=t.dtype,
            name=input_names.get(id(t), t.name),
        ),
        model.input,
    )


def _is_functional(model):
    # keras exports no `Functional` class; functional models (and the
    # keras.applications models) are instances of keras.src's Functional.
    return isinstance(model, keras.Model) and any(
        cls.__name__ == "Functional" for cls in type(model).__mro__
    )
