"""nonlocal_tf.data."""
