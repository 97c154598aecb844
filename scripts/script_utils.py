"""Helpers shared by the absl programs in scripts/ (not a program itself).

The programs import it as `script_utils`: `python scripts/x.py` puts
`scripts/` first on `sys.path`.
"""

import os

from absl import logging


def load_model_weights(model, model_name, weights):
    """Loads `weights` into a freshly built zoo `model`, strictly.

    Args:
        model: the model from `zoo.get_model(model_name, weights=None, ...)`.
        model_name: its zoo name (resolves weight tags such as
            "kinetics400").
        weights: a training run directory (its final weights, else its
            latest checkpoint), a `.weights.h5` file, an upstream checkpoint
            (Caffe2/PySlowFast `.pkl`, `.pyth`), a weight tag, or empty for
            random initialisation (logged as a warning).

    Example:
        >>> model = zoo.get_model("C2D_NLN_8x8_R50", classes=10)
        >>> load_model_weights(model, "C2D_NLN_8x8_R50", "runs/demo")
    """
    if not weights:
        logging.warning("No --weights: the model is randomly initialised.")
        return
    if weights.endswith(".weights.h5") or os.path.isdir(weights):
        from nonlocal_tf import training

        training.load_initial_weights(model, weights)
        return
    from nonlocal_tf import zoo

    path = weights
    if not os.path.exists(path):
        path = zoo.weights_path(model_name, weights)  # a weight tag
    logging.info("%s", zoo.load_weights(model, path))
