r"""Trains a zoo video model on TFRecord clips with tf.distribute.

The clips (frames x rate, sampling, crops, test views) are the zoo entry's
clip spec; a clip flag given explicitly overrides it (logged, and recorded
in config.json and metrics.json). The paper's Kinetics recipe (8 GPUs x 8
clips, 400k steps, lr 0.01 / 10 at 150k and 300k, Nesterov momentum 0.9,
weight decay 1e-4, dropout 0.5), on 32x2 clips:

  python scripts/train.py --model=i3d_nl5_r50_32x2 \
      --train_records='/data/kinetics/train-*' \
      --val_records='/data/kinetics/val-*' \
      --strategy=mirrored --batch_size_per_replica=8 \
      --train_steps=400000 --lr_boundaries=150000,300000 \
      --inflate_from=/weights/R50_IN_caffe2.pkl --model_dir=/runs/i3d_nl5

A narrow copy of a zoo model (--width_per_group) on small clips, e.g.
records made by scripts/prepare_data.py from a few videos:

  python scripts/train.py --model=C2D_NLN_8x8_R50 --width_per_group=8 \
      --train_records='records/train-*' --val_records='records/val-*' \
      --num_frames=4 --sampling_rate=2 --crop_size=64 --jitter_scales=64,80 \
      --test_crop_size=64 --num_test_clips=2 --batch_size_per_replica=4 \
      --train_steps=100 --model_dir=/tmp/run

Fine-tuning: --model may also be a preset (a name such as
i3d_nl5_r50_8x8_pyslowfast_kinetics400, a preset directory), a previous
run's model_dir or a .keras file; its weights are the starting point, and a
--num_classes other than its own gets a fresh head (every other weight kept):

  python scripts/train.py --model=runs/c2d_nl --num_classes=3 \
      --train_records='mine/train-*' --model_dir=runs/mine

--num_classes defaults to the size of the label_map.json that
prepare_data.py writes beside the records. Run the same command again after
a crash or preemption to continue where it stopped. The run directory holds
the model (model.json: architecture and clip spec), so later programs need
only --model=<model_dir>. With --val_records, the chief ends with a
multi-view evaluation written to <model_dir>/eval/ (metrics.json,
per_class.csv, predictions.csv).
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli
from nonlocal_tf import data
from nonlocal_tf import training
from nonlocal_tf.programs import common

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS

common.define_model_flags(
    "Number of classes; default: the size of the label map.", weights=False
)
flags.DEFINE_string(
    "label_map",
    None,
    "Class names: a label_map.json ({name: index}, as prepare_data.py "
    "writes), a JSON list or one name per line. Default: label_map.json "
    "beside --train_records, if there.",
)
flags.DEFINE_float("dropout", 0.5, "Dropout rate before the classifier.")
common.require("dropout", lambda v: 0 <= v < 1, "must be in [0, 1)")
flags.DEFINE_string(
    "init_weights",
    None,
    "Initial weights: a zoo checkpoint (Caffe2 .pkl / PySlowFast .pyth) or "
    "weight tag (e.g. kinetics400), a *.weights.h5 file or a previous run's "
    "model_dir.",
)
flags.DEFINE_string(
    "inflate_from",
    None,
    "ImageNet 2D ResNet-50/101 weights to inflate into 3D: a Caffe2 .pkl or "
    "a keras.applications ResNet weights file (full width only).",
)
flags.DEFINE_string("train_records", None, "Training TFRecord file pattern.")
flags.DEFINE_string("val_records", None, "Validation TFRecord pattern.")
flags.DEFINE_string(
    "data_service",
    None,
    "grpc://host:port of a tf.data service dispatcher "
    "(scripts/data_service.py): the training input is decoded and "
    "augmented on its workers (no data position in checkpoints).",
)
common.define_clip_flags()
flags.DEFINE_integer(
    "num_train_examples",
    None,
    "Training set size for epoch-based settings; default: the records, "
    "counted.",
    lower_bound=1,
)
flags.DEFINE_list(
    "lr_boundary_epochs", [], "Step schedule: decay epochs (instead of steps)."
)
common.require(
    "lr_boundary_epochs",
    lambda v: common.increasing_positive(v, float),
    "must be strictly increasing numbers > 0",
)
flags.DEFINE_float(
    "warmup_epochs", 0.0, "Linear warm-up epochs (instead).", lower_bound=0
)

# The run's `TrainConfig` (nonlocal_tf/training/config.py): one flag per
# field, with its default and accepted values (tests/scripts/
# train_flags_test.py checks that they agree).
flags.DEFINE_string(
    "model_dir", None, "Checkpoints, summaries, config.json, final weights."
)
flags.DEFINE_integer(
    "batch_size_per_replica",
    8,
    "Clips per replica per step; the global batch is this times the number "
    "of replicas.",
    lower_bound=1,
)
flags.DEFINE_integer(
    "train_steps", None, "Total optimizer steps.", lower_bound=1
)
flags.DEFINE_integer(
    "epochs",
    None,
    "Number of epochs (instead of --train_steps).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "steps_per_epoch",
    None,
    "Steps per epoch (progress bar, epoch boundaries, checkpoints at epoch "
    "ends). Default: from the training examples with --epochs, "
    "--lr_boundary_epochs or --warmup_epochs, else --train_steps.",
    lower_bound=1,
)
flags.DEFINE_enum(
    "schedule",
    "step",
    ["step", "cosine", "constant"],
    "Learning rate schedule.",
)
flags.DEFINE_float(
    "base_learning_rate", 0.01, "Rate before decay (after warm-up)."
)
common.require("base_learning_rate", lambda v: v > 0, "must be > 0")
flags.DEFINE_list(
    "lr_boundaries",
    [],
    "Step schedule: steps at which the rate is multiplied by --lr_factor.",
)
common.require(
    "lr_boundaries",
    common.increasing_positive,
    "must be strictly increasing step numbers > 0",
)
flags.DEFINE_float("lr_factor", 0.1, "Step schedule multiplier.")
common.require("lr_factor", lambda v: v > 0, "must be > 0")
flags.DEFINE_integer(
    "warmup_steps", 0, "Linear warm-up length (both schedules).", lower_bound=0
)
flags.DEFINE_float(
    "warmup_start_learning_rate",
    0.0,
    "Rate at step 0 of the warm-up.",
    lower_bound=0,
)
flags.DEFINE_float(
    "end_learning_rate", 0.0, "Cosine schedule's final rate.", lower_bound=0
)
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
common.require("momentum", lambda v: 0 <= v < 1, "must be in [0, 1)")
flags.DEFINE_boolean("nesterov", True, "Nesterov momentum.")
flags.DEFINE_float(
    "weight_decay",
    1e-4,
    "L2 coefficient added to the gradient (Caffe2 form).",
    lower_bound=0,
)
flags.DEFINE_boolean(
    "decay_norm", False, "Also decay normalization parameters."
)
flags.DEFINE_boolean("decay_bias", False, "Also decay biases.")
flags.DEFINE_string(
    "freeze",
    "",
    'Fine-tuning: "backbone" (all but the classifier), '
    '"stages:stem,res2,..." (those parts) or "bn" (every batch norm, '
    'statistics and affine); "" trains everything.',
)
flags.DEFINE_float(
    "head_learning_rate_multiplier",
    1.0,
    "The classifier's learning rate relative to the rest (fine-tuning a new "
    "head).",
)
common.require("head_learning_rate_multiplier", lambda v: v > 0, "must be > 0")
flags.DEFINE_float(
    "label_smoothing", 0.0, "Label smoothing of the cross-entropy."
)
common.require("label_smoothing", lambda v: 0 <= v < 1, "must be in [0, 1)")
flags.DEFINE_boolean(
    "multi_label", False, "Labels are multi-hot (sigmoid cross-entropy)."
)
flags.DEFINE_boolean(
    "from_logits", False, "The model outputs logits (else probabilities)."
)
flags.DEFINE_enum(
    "mixed_precision",
    "float32",
    ["float32", "mixed_float16", "mixed_bfloat16"],
    "Precision policy (mixed_float16 with dynamic loss scaling).",
)
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker"],
    "tf.distribute strategy.",
)
flags.DEFINE_float(
    "peer_timeout_seconds",
    60.0,
    "--strategy=multi_worker: a worker that sends no heartbeat for this long "
    "is lost; the others stop with an error naming it (within about this "
    "time plus 10 s). Restart every worker to resume from the last "
    "checkpoint.",
    lower_bound=1.0,
)
flags.DEFINE_integer(
    "seed",
    0,
    "Seed for Python, NumPy and TensorFlow.",
    lower_bound=0,
    upper_bound=2**32 - 1,
)
flags.DEFINE_boolean(
    "deterministic",
    False,
    "Deterministic ops (tf.config.experimental.enable_op_determinism()).",
)
flags.DEFINE_boolean(
    "jit_compile",
    False,
    "Compile the training step with XLA (on a 2-core CPU it was slower "
    "than without; see docs/performance.md).",
)
flags.DEFINE_integer(
    "checkpoint_every_steps",
    1000,
    "Checkpoint interval (also at epoch ends and at the end).",
    lower_bound=1,
)
flags.DEFINE_integer("max_checkpoints", 3, "Checkpoints kept.", lower_bound=1)
flags.DEFINE_integer(
    "log_every_steps", 50, "Summary/log interval.", lower_bound=1
)
flags.DEFINE_boolean(
    "progress_bar", True, "Show a Keras progress bar on the chief."
)
flags.adopt_module_key_flags(common)
flags.mark_flags_as_required(["model", "train_records", "model_dir"])


def initial_weights():
    """`train`'s initial-weights hook from --init_weights / --inflate_from."""
    from nonlocal_tf import zoo

    if FLAGS.init_weights and FLAGS.inflate_from:
        raise app.UsageError("Give --init_weights or --inflate_from, not both.")
    if FLAGS.inflate_from:

        def inflate(model):
            report = zoo.inflate_2d_weights(model, FLAGS.inflate_from)
            logging.info("Initial weights: %s", report)

        return inflate
    weights = FLAGS.init_weights
    if not weights and not zoo.is_architecture_name(FLAGS.model):
        weights = FLAGS.model  # fine-tuning: the source's own weights
    if not weights:
        return None
    # A head for other classes than the checkpoint's stays initialised.
    return lambda model: zoo.load_weights(
        model, weights, skip_mismatched_head=True
    )


def _source_model(source):
    """The (untrained) model of a --model source, one line if unreadable."""
    from nonlocal_tf import zoo

    try:
        return zoo.from_preset(source, load_weights=False)
    except (zoo.SourceError, OSError) as error:
        raise app.UsageError(f"--model={source}: {error}") from None


def _steps_per_epoch(global_batch_size):
    if FLAGS.steps_per_epoch:
        return FLAGS.steps_per_epoch
    if not (FLAGS.epochs or FLAGS.lr_boundary_epochs or FLAGS.warmup_epochs):
        return None
    examples = FLAGS.num_train_examples
    if not examples:
        logging.info("Counting records in %s ...", FLAGS.train_records)
        examples = data.count_records(FLAGS.train_records)
    steps = examples // global_batch_size
    if steps < 1:
        raise app.UsageError(
            f"{examples} training examples give no full global batch of "
            f"{global_batch_size}."
        )
    logging.info("%d examples -> %d steps per epoch.", examples, steps)
    return steps


def make_config(num_replicas, extra):
    """The run's `TrainConfig`: its flags, with the epoch settings applied."""
    from nonlocal_tf.training import config as config_lib

    steps_per_epoch = _steps_per_epoch(
        FLAGS.batch_size_per_replica * num_replicas
    )
    lr_boundaries = list(FLAGS.lr_boundaries)
    if FLAGS.lr_boundary_epochs:
        if lr_boundaries:
            raise app.UsageError(
                "Give --lr_boundaries or --lr_boundary_epochs, not both."
            )
        lr_boundaries = [
            round(float(e) * steps_per_epoch) for e in FLAGS.lr_boundary_epochs
        ]
    warmup_steps = FLAGS.warmup_steps
    if FLAGS.warmup_epochs:
        warmup_steps = round(FLAGS.warmup_epochs * steps_per_epoch)
    if FLAGS.train_steps is None and FLAGS.epochs is None:
        raise app.UsageError("Give --train_steps or --epochs.")
    try:
        return config_lib.TrainConfig(
            model_dir=FLAGS.model_dir,
            batch_size_per_replica=FLAGS.batch_size_per_replica,
            train_steps=FLAGS.train_steps,
            epochs=FLAGS.epochs,
            steps_per_epoch=steps_per_epoch,
            schedule=FLAGS.schedule,
            base_learning_rate=FLAGS.base_learning_rate,
            lr_boundaries=lr_boundaries,
            lr_factor=FLAGS.lr_factor,
            warmup_steps=warmup_steps,
            warmup_start_learning_rate=FLAGS.warmup_start_learning_rate,
            end_learning_rate=FLAGS.end_learning_rate,
            momentum=FLAGS.momentum,
            nesterov=FLAGS.nesterov,
            weight_decay=FLAGS.weight_decay,
            decay_norm=FLAGS.decay_norm,
            decay_bias=FLAGS.decay_bias,
            freeze=FLAGS.freeze,
            head_learning_rate_multiplier=FLAGS.head_learning_rate_multiplier,
            label_smoothing=FLAGS.label_smoothing,
            multi_label=FLAGS.multi_label,
            from_logits=FLAGS.from_logits,
            mixed_precision=FLAGS.mixed_precision,
            strategy=FLAGS.strategy,
            seed=FLAGS.seed,
            deterministic=FLAGS.deterministic,
            jit_compile=FLAGS.jit_compile,
            checkpoint_every_steps=FLAGS.checkpoint_every_steps,
            max_checkpoints=FLAGS.max_checkpoints,
            log_every_steps=FLAGS.log_every_steps,
            progress_bar=FLAGS.progress_bar,
            extra=extra,
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None


def build_task():
    """The task: the zoo model and its clip spec (flags applied), the data."""
    from nonlocal_tf import zoo

    data.list_files(FLAGS.train_records)  # a pattern that matches nothing
    spec, changes = common.apply_overrides(zoo.clip_spec_of(FLAGS.model), FLAGS)
    names, num_classes = common.class_names(
        FLAGS.label_map, FLAGS.train_records, FLAGS.num_classes
    )

    head = {
        "num_classes": num_classes,
        "classifier_activation": "sigmoid" if FLAGS.multi_label else "softmax",
        "dropout_rate": FLAGS.dropout,
        "class_names": names,
    }
    if zoo.is_architecture_name(FLAGS.model):

        def model_fn(input_shape):
            return zoo.get_model(
                FLAGS.model,
                input_shape=input_shape,
                width_per_group=FLAGS.width_per_group or 64,
                clip_spec=spec,
                **head,
            )

    else:
        # Fine-tuning: the source's architecture; its weights (all but a
        # head for other classes) come in through `initial_weights`.
        if FLAGS.width_per_group:
            raise app.UsageError(
                f"--width_per_group applies to zoo names; {FLAGS.model} has "
                "its own architecture"
            )
        source = _source_model(FLAGS.model)

        def model_fn(input_shape):
            return zoo.rebuild(
                source, clip_spec=spec, input_shape=input_shape, **head
            )

    task = training.VideoClassificationTask(
        model_fn=model_fn,
        clip_spec=spec,
        train_records=FLAGS.train_records,
        val_records=FLAGS.val_records,
        num_classes=num_classes,
        multi_label=FLAGS.multi_label,
        class_names=names,
        seed=FLAGS.seed,
    )
    return task, changes


def main(argv):
    del argv
    # The strategy comes first: MultiWorkerMirroredStrategy must be created
    # before any other TensorFlow op.
    strategy = training.create_strategy(
        FLAGS.strategy, peer_timeout_seconds=FLAGS.peer_timeout_seconds
    )
    # One run per model_dir, refused before the records are read; held
    # through the final evaluation.
    info = training.worker_info(strategy)
    with training.model_dir_lock(FLAGS.model_dir, info):
        _train_and_evaluate(strategy, info)


def _train_and_evaluate(strategy, info):
    from nonlocal_tf import zoo
    from nonlocal_tf.training import config as config_lib

    task, changes = build_task()
    # The flags besides the config's own (config.json has those).
    config_fields = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
    key_flags = FLAGS.get_key_flags_for_module(sys.modules[__name__])
    extra = {
        "flags": {
            f.name: f.value for f in key_flags if f.name not in config_fields
        },
        "num_classes": task.num_classes,
        "clip_spec_overrides": common.changes_record(changes),
    }
    config = make_config(strategy.num_replicas_in_sync, extra)
    result = task.train(
        config,
        strategy=strategy,
        initial_weights=initial_weights(),
        data_service=FLAGS.data_service,
    )
    logging.info("Trained %d steps: %s", result.step, result.weights_path)
    if FLAGS.val_records and info.is_chief:
        model = task.build_model("test")
        zoo.load_weights(model, result.weights_path)
        evaluated = task.evaluate(model)
        task.write_results(
            evaluated,
            os.path.join(FLAGS.model_dir, "eval"),
            setup={
                "weights": result.weights_path,
                "test_records": FLAGS.val_records,
            },
            extra={"clip_spec_overrides": common.changes_record(changes)},
        )
        logging.info("Validation: %s", evaluated.metrics)


def run():
    """The console command `nonlocal-train`."""
    cli.run(main, tensorflow=True)
