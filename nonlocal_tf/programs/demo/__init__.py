r"""Demo: generated videos -> records -> a non-local model -> a served answer.

  python scripts/demo.py                      # ~5 minutes on 2 CPU cores
  python scripts/demo.py --compare_baseline   # + the same net without NL
  python scripts/demo.py --quick              # plumbing only, ~1 minute

Another seed and twice the steps, with the baseline, in another folder:

  python scripts/demo.py --output_dir=/tmp/demo_seed1 --seed=1 \
      --train_steps=2000 --compare_baseline

Seven steps, each a call into the library:

1. `nonlocal_tf.data.synthetic.make_dataset`: videos of the
   "colour match" task. A coloured square shows in one corner during the
   first frames, another in the opposite corner during the last frames; the
   class is whether they share a colour. Neither square alone says anything,
   so the model must relate positions far apart in space and time: what
   non-local blocks are for.
2. `nonlocal_tf.data.prepare_dataset`: videos -> TFRecords of JPEG frames.
3. `nonlocal_tf.training.train`: a narrow zoo C2D ResNet-50 with 5 non-local
   blocks (`C2D_NLN_8x8_R50` at `width_per_group=8`) from scratch on 8-frame
   64x64 clips.
4. `nonlocal_tf.training.evaluate`: multi-view test (clips x crops, softmax
   averaged per video) on held-out videos, against chance.
5. `nonlocal_tf.export.export_saved_model`: a TF Serving SavedModel with
   the class names inside.
6. `tf.saved_model.load` + the `classify_frames` signature on the JPEG frames
   of a new video (nothing of this project is needed to load it).
7. Fine-tuning (`nonlocal_tf.zoo.load_weights(..., skip_mismatched_head=True)`
   as the trainer's `initial_weights`): a new labelling of fresh videos of
   the same generator, 3 classes (`both_red`, `both_green`, `two_colours`),
   from a few videos per class (`--finetune_per_class`). The network of
   step 3 (all but its 2-class head) and the same network from random
   weights train alike (`--finetune_steps`) and are tested side by side on
   held-out videos of the new labelling.

Everything lands in `--output_dir` (step 7 in its `finetune/`). Running the
same command again resumes: the seeded videos are regenerated identically,
finished record shards are kept, and training continues from its last
checkpoint (a finished run is not retrained; a finished step 7 prints its
stored comparison). Other settings into the same folder need `--overwrite`.
"""

import os
import time
import warnings

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli
from nonlocal_tf.programs.demo import output

# The Summary's total time counts from here.
STARTED = time.perf_counter()

FLAGS = flags.FLAGS

flags.DEFINE_string("output_dir", "demo_output", "Where everything is written.")
flags.DEFINE_integer("seed", 0, "Seed of the data, the model and training.")
flags.DEFINE_boolean(
    "quick", False, "Tiny run (a few videos and steps) to check the plumbing."
)
flags.DEFINE_boolean(
    "overwrite",
    False,
    "Delete an earlier demo in --output_dir first (else it is resumed).",
)
flags.DEFINE_boolean(
    "compare_baseline",
    False,
    "Also train and test the same network without its non-local blocks "
    "(about 2 more minutes).",
)
flags.DEFINE_integer("num_train", 640, "Training videos.")
flags.DEFINE_integer("num_val", 100, "Validation videos.")
flags.DEFINE_integer("num_test", 200, "Test videos.")
flags.DEFINE_string("model", "C2D_NLN_8x8_R50", "Zoo model (with NL blocks).")
flags.DEFINE_integer("width_per_group", 8, "Width of res2 (64 = full size).")
flags.DEFINE_integer("train_steps", 1000, "Training steps.")
flags.DEFINE_integer("batch_size", 16, "Clips per step.")
flags.DEFINE_float("base_lr", 0.05, "Peak learning rate (cosine schedule).")
flags.DEFINE_float("dropout", 0.2, "Dropout before the classifier.")
flags.DEFINE_integer("num_test_clips", 4, "Test clips per video (K).")
flags.DEFINE_integer(
    "num_test_crops",
    1,
    "Test crops per clip (1 or 3); the frames are square, so 3 crops would "
    "be one view three times.",
)
flags.DEFINE_integer("top_k", 2, "Labels in the exported top-k outputs.")
flags.DEFINE_integer(
    "finetune_per_class",
    8,
    "Step 7: training videos per class of the new labelling.",
)
flags.DEFINE_integer(
    "finetune_steps", 40, "Step 7: training steps of each of its two runs."
)
flags.DEFINE_float(
    "finetune_lr",
    0.05,
    "Step 7: peak learning rate of both runs (cosine schedule; default the "
    "rate that trains step 3 from scratch).",
)
flags.register_validator(
    "finetune_per_class", lambda n: n >= 1, "must be at least 1"
)
flags.register_validator(
    "finetune_steps", lambda n: n >= 1, "must be at least 1"
)
flags.register_validator("finetune_lr", lambda lr: lr > 0, "must be > 0")


def settings_from_flags():
    """The settings that decide the demo's results (compared on resume)."""
    finetune = {
        "labelling": "colours",
        "videos_per_class": {"train": FLAGS.finetune_per_class, "test": 40},
        "train_steps": FLAGS.finetune_steps,
        "batch_size": 12,
        "base_lr": FLAGS.finetune_lr,
        # Both runs train every weight: frozen batch norms or a frozen
        # backbone would leave the random network untrainable or a linear
        # probe of random features.
        "freeze": "",
        "head_learning_rate_multiplier": 1.0,
    }
    if FLAGS.quick:
        sizes = {"train": 16, "val": 4, "test": 8}
        steps, batch, clips = 6, 4, 2
        finetune.update(
            videos_per_class={"train": 2, "test": 2},
            train_steps=4,
            batch_size=3,
        )
    else:
        sizes = {
            "train": FLAGS.num_train,
            "val": FLAGS.num_val,
            "test": FLAGS.num_test,
        }
        steps, batch = FLAGS.train_steps, FLAGS.batch_size
        clips = FLAGS.num_test_clips
    return {
        "seed": FLAGS.seed,
        "split_sizes": sizes,
        "model": FLAGS.model,
        "width_per_group": FLAGS.width_per_group,
        "train_steps": steps,
        "batch_size": batch,
        "base_lr": FLAGS.base_lr,
        "dropout": FLAGS.dropout,
        "num_test_clips": clips,
        "num_test_crops": FLAGS.num_test_crops,
        "finetune": finetune,
    }


def _open():
    """The run's `Demo`: a new output folder or the run found there."""
    demo, resumed = output.open_output_dir(
        FLAGS.output_dir,
        settings_from_flags(),
        overwrite=FLAGS.overwrite,
        quick=FLAGS.quick,
        top_k=FLAGS.top_k,
        started=STARTED,
    )
    print(
        "nonlocal-tf demo: a non-local network learns a long-range "
        "space-time relation\n"
        f"output: {os.path.abspath(demo.root)}"
        + (" (resuming the run found there)" if resumed else "")
        + ("\n--quick: a few videos and steps, plumbing only" * FLAGS.quick),
        flush=True,
    )
    return demo


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    demo = _open()
    # The steps import TensorFlow: here, after `cli.run` has loaded it.
    from nonlocal_tf.programs.demo import data_steps
    from nonlocal_tf.programs.demo import finetune_steps
    from nonlocal_tf.programs.demo import model_steps
    from nonlocal_tf.programs.demo import serving_steps

    data, request = data_steps.make_videos(demo)
    data_steps.prepare_records(demo, data)
    demo.step("Train a non-local network (nonlocal_tf.training.train)")
    result = model_steps.train_model(demo)
    model_steps.evaluate_model(demo, result.model)
    if FLAGS.compare_baseline:
        model_steps.compare_baseline(demo)
    path = serving_steps.export_model(demo, result.model)
    serving_steps.answer_request(demo, path, request)
    finetune_steps.finetune(demo)
    demo.print_summary()


def run():
    """The console command `nonlocal-demo`."""
    cli.run(main, tensorflow=True)
