"""nonlocal_tf.training."""
