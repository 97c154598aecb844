"""nonlocal_tf.models."""

from nonlocal_tf.models.insert import insert_nonlocal  # noqa: F401
