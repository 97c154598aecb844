"""Stage outputs (s1..s5) of a `VideoClassifier`, as PySlowFast names them."""

import keras

STAGE_ENDPOINTS = ("s1", "s2", "s3", "s4", "s5")


def stage_endpoints(model):
    """Maps s1..s5 to the layer whose output ends each stage.

    s1 is the stem after pool1; s2..s5 are the outputs of res2..res5 (before
    pool2 for s2), including a non-local block that follows the stage's last
    residual block.

    Args:
        model: a model built by `VideoClassifier` (its layer names).

    Returns:
        `{"s1": "pool1", "s2": "res2_2_relu", ...}`.

    Example:
        >>> model = VideoClassifier(
        ...     depth=50, nonlocal_locations=[[], [1, 3], [], []])
        >>> stage_endpoints(model)["s3"]
        'nonlocal_conv3_3'
    """
    names = {layer.name for layer in model.layers}
    if "pool1" not in names:
        raise ValueError(
            f"Model '{model.name}' has no layer 'pool1'; stage_endpoints "
            "needs a model built by nonlocal_tf.models.VideoClassifier"
        )
    endpoints = {"s1": "pool1"}
    for stage in range(2, 6):
        last = -1
        while f"res{stage}_{last + 1}_relu" in names:
            last += 1
        if last < 0:
            raise ValueError(
                f"Model '{model.name}' has no residual block res{stage}_0"
            )
        nonlocal_name = f"nonlocal_conv{stage}_{last}"
        endpoints[f"s{stage}"] = (
            nonlocal_name
            if nonlocal_name in names
            else f"res{stage}_{last}_relu"
        )
    return endpoints


def features_model(model, endpoints=STAGE_ENDPOINTS):
    """A model sharing `model`'s layers that returns a dict of stage outputs.

    Args:
        model: a model built by `VideoClassifier`.
        endpoints: which of "s1".."s5" to return.

    Example:
        >>> features = features_model(model)
        >>> outputs = features(clip)  # {"s1": ..., ..., "s5": ...}
    """
    mapping = stage_endpoints(model)
    unknown = [e for e in endpoints if e not in mapping]
    if unknown:
        raise ValueError(
            f"Unknown endpoints {unknown}; expected a subset of "
            f"{STAGE_ENDPOINTS}"
        )
    outputs = {e: model.get_layer(mapping[e]).output for e in endpoints}
    return keras.Model(model.input, outputs, name=f"{model.name}_features")
