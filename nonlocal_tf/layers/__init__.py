"""nonlocal_tf.layers."""
