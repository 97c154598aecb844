"""Parses a program's own flags for every zoo entry; prints the clip specs.

Run as `python spec_probe.py <program> <extra flags...>`: for each zoo
name, the program's flags are parsed with only `--model=<name>` (and the
extra required flags), and the spec the program would feed the model is
printed as one JSON line `{"model": name, "spec": ..., "changes": ...}`.
"""

import importlib
import json
import sys

from absl import flags

from nonlocal_tf import zoo
from nonlocal_tf.programs import common


def main():
    name, extra = sys.argv[1], sys.argv[2:]
    program = importlib.import_module(f"nonlocal_tf.programs.{name}")
    for model in zoo.list_models():
        flags.FLAGS.unparse_flags()
        flags.FLAGS([program.__name__, f"--model={model}", *extra])
        spec, changes = common.effective_clip_spec(flags.FLAGS, model)
        print(
            json.dumps(
                {
                    "model": model,
                    "spec": spec.to_dict(),
                    "changes": {k: list(v) for k, v in changes.items()},
                }
            )
        )


if __name__ == "__main__":
    main()
