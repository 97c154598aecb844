"""Random weights that make an exported model's outputs worth comparing.

The zoo starts each bottleneck's last batch-norm scale at 0 and has unit
batch-norm statistics, so a freshly built model's residual branches and
non-local blocks add nothing and its probabilities are near-uniform; a
parity check on such a model would prove little.
"""

import numpy as np


def randomize(model, seed, head_std=0.5):
    """Random BN statistics and scales and a sharper classifier, in place.

    Args:
        model: a zoo `VideoClassifier` (its classifier kernel is `pred`).
        seed: the NumPy seed.
        head_std: standard deviation of the classifier kernel.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.path.split("/")[-1]
        shape = tuple(variable.shape)
        if name == "gamma":
            value = rng.uniform(0.5, 1.0, shape)
        elif name in ("beta", "moving_mean"):
            value = rng.normal(0.0, 0.1, shape)
        elif name == "moving_variance":
            value = rng.uniform(1.0, 2.0, shape)
        elif variable.path == "pred/kernel":
            value = rng.normal(0.0, head_std, shape)
        else:
            continue
        variable.assign(value.astype(variable.dtype))
