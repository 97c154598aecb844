"""nonlocal_tf.models."""
