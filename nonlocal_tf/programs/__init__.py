"""The command-line programs (absl): flags -> one library call each.

Each module defines its flags, `main` and `run`; `scripts/<name>.py` and the
installed console commands (`nonlocal-train`, `nonlocal-evaluate`, ...) run
them. The programs sit above everything else (they import `nonlocal_tf.zoo`,
`data`, `training` and `export`); nothing in the library imports them.
"""

import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with
# AVX-512 and newer; on a 2-core AVX2 CPU they made a C2D/I3D R50 training
# step about 2x faster (the Conv3D gradients). Set before TensorFlow loads
# (these modules import it); TF_ENABLE_ONEDNN_OPTS=0 turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
