r"""Writes MODEL_ZOO.md from the zoo registry (or checks it is up to date).

A developer tool of the repository (no console command: its default
--output is the checkout's MODEL_ZOO.md, which the wheel does not hold):

  python scripts/make_model_zoo.py

  python scripts/make_model_zoo.py --check \
      --output=/path/to/nonlocal-tf/MODEL_ZOO.md
"""

import pathlib

from absl import flags

from nonlocal_tf import cli
from nonlocal_tf import fileio

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

# nonlocal_tf/programs/make_model_zoo.py -> the checkout's root.
CHECKOUT = pathlib.Path(__file__).resolve().parents[2]

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "output", str(CHECKOUT / "MODEL_ZOO.md"), "Markdown file to write."
)
flags.DEFINE_bool("check", False, "Only compare; exit 1 when out of date.")


def main(argv):
    del argv
    from nonlocal_tf.zoo import model_zoo_table

    text = model_zoo_table.render_markdown()
    if FLAGS.check:
        current = pathlib.Path(FLAGS.output).read_text()
        if current != text:
            print(
                f"{FLAGS.output} is out of date; run scripts/make_model_zoo.py"
            )
            return 1
        print(f"{FLAGS.output} is up to date")
        return 0
    fileio.atomic_write_text(FLAGS.output, text)
    print(f"wrote {FLAGS.output}")
    return 0


def run():
    """`python scripts/make_model_zoo.py` (no console command)."""
    cli.run(main, tensorflow=True)
