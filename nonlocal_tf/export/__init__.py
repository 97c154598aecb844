"""nonlocal_tf.export."""
