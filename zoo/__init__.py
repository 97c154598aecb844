"""The nonlocal-tf model zoo, installed as `nonlocal_tf.zoo`."""
