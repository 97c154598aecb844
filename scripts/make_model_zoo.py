"""Writes MODEL_ZOO.md from the zoo registry (or checks it is up to date).

Example:
    python scripts/make_model_zoo.py --output=MODEL_ZOO.md
    python scripts/make_model_zoo.py --check
"""

import os
import pathlib
import tempfile

from absl import flags

from nonlocal_tf import cli
from nonlocal_tf.zoo import model_zoo_table

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "output",
    str(pathlib.Path(__file__).resolve().parents[1] / "MODEL_ZOO.md"),
    "Markdown file to write.",
)
flags.DEFINE_bool("check", False, "Only compare; exit 1 when out of date.")


def main(argv):
    del argv
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
    directory = os.path.dirname(os.path.abspath(FLAGS.output))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".md", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, FLAGS.output)
    print(f"wrote {FLAGS.output}")
    return 0


if __name__ == "__main__":
    cli.run(main)
