"""Trains a zoo video model on TFRecord clips with tf.distribute.

The paper's Kinetics recipe (8 GPUs x 8 clips, 400k steps, lr 0.01 / 10 at
150k and 300k, Nesterov momentum 0.9, weight decay 1e-4, dropout 0.5):

    python scripts/train.py --model=i3d_nl5_r50_32x2 \
        --train_records='/data/kinetics/train-*' \
        --val_records='/data/kinetics/val-*' --num_frames=32 \
        --sampling_rate=2 --strategy=mirrored --batch_size_per_replica=8 \
        --train_steps=400000 --lr_boundaries=150000,300000 \
        --inflate_from=/weights/R50_IN_caffe2.pkl --model_dir=/runs/i3d_nl5

A quick run of a narrow copy of a zoo model (--width_per_group) on small
clips, e.g. records made by scripts/prepare_data.py from a few videos:

    python scripts/train.py --model=C2D_NLN_8x8_R50 --width_per_group=8 \
        --train_records='records/train-*' --val_records='records/val-*' \
        --num_frames=4 --sampling_rate=2 --crop_size=64 \
        --jitter_scales=64,80 --test_crop_size=64 --num_test_clips=2 \
        --batch_size_per_replica=4 --train_steps=100 --model_dir=/tmp/run

--num_classes defaults to the size of the label_map.json that
prepare_data.py writes beside the records. Run the same command again after
a crash or preemption to continue where it stopped. With --val_records, the
chief ends with a multi-view evaluation written to `<model_dir>/eval/`
(metrics.json, per_class.csv, predictions.csv).
"""

import os
import sys

import script_utils
from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS

# Model and initial weights.
flags.DEFINE_string("model", None, "Zoo model name (nonlocal_tf.zoo).")
flags.DEFINE_integer(
    "num_classes",
    None,
    "Number of classes; default: the size of the label map.",
)
flags.DEFINE_string(
    "label_map",
    None,
    "Class names: a label_map.json ({name: index}, as prepare_data.py "
    "writes), a JSON list or one name per line. Default: label_map.json "
    "beside --train_records, if there.",
)
flags.DEFINE_integer(
    "width_per_group",
    64,
    "Bottleneck width of res2 (64: the published models; smaller values "
    "give narrow copies of the same topology, e.g. for quick experiments).",
)
flags.DEFINE_float("dropout", 0.5, "Dropout rate before the classifier.")
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
# Data.
flags.DEFINE_string("train_records", None, "Training TFRecord file pattern.")
flags.DEFINE_string("val_records", None, "Validation TFRecord pattern.")
flags.DEFINE_integer("num_frames", 32, "Frames per clip (T).")
flags.DEFINE_integer("sampling_rate", 2, "Frame stride within a clip.")
flags.DEFINE_integer("crop_size", 224, "Training crop size.")
flags.DEFINE_list("jitter_scales", ["256", "320"], "Short-side scale range.")
flags.DEFINE_boolean("multi_label", False, "Multi-hot labels (Charades).")
flags.DEFINE_string(
    "data_service",
    None,
    "grpc://host:port of a tf.data service dispatcher "
    "(scripts/data_service.py): the training input is decoded and "
    "augmented on its workers (no data position in checkpoints).",
)
flags.DEFINE_integer("test_crop_size", 256, "Evaluation crop size.")
flags.DEFINE_integer("num_test_clips", 10, "Evaluation clips per video.")
flags.DEFINE_integer("num_test_crops", 3, "Evaluation crops per clip.")
# Length of the run.
flags.DEFINE_integer("batch_size_per_replica", 8, "Clips per replica.")
flags.DEFINE_integer("train_steps", None, "Total steps (or use --epochs).")
flags.DEFINE_integer("epochs", None, "Epochs (with --steps_per_epoch).")
flags.DEFINE_integer(
    "steps_per_epoch",
    None,
    "Steps per epoch; default: --num_train_examples (or the number of "
    "training records, counted) // global batch.",
)
flags.DEFINE_integer("num_train_examples", None, "Training set size.")
# Optimisation.
flags.DEFINE_enum(
    "lr_schedule", "step", ["step", "cosine", "constant"], "LR schedule."
)
flags.DEFINE_float("base_lr", 0.01, "Base learning rate.")
flags.DEFINE_list("lr_boundaries", [], "Step schedule: decay steps.")
flags.DEFINE_list(
    "lr_boundary_epochs", [], "Step schedule: decay epochs (instead)."
)
flags.DEFINE_float("lr_factor", 0.1, "Step schedule: decay factor.")
flags.DEFINE_integer("warmup_steps", 0, "Linear warm-up steps.")
flags.DEFINE_float("warmup_epochs", 0.0, "Linear warm-up epochs (instead).")
flags.DEFINE_float("warmup_start_lr", 0.0, "Learning rate at step 0.")
flags.DEFINE_float("end_lr", 0.0, "Cosine schedule: final learning rate.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_boolean("nesterov", True, "Nesterov momentum.")
flags.DEFINE_float("weight_decay", 1e-4, "L2 weight decay (Caffe2 form).")
flags.DEFINE_boolean("decay_norm", False, "Also decay BN parameters.")
flags.DEFINE_boolean("decay_bias", False, "Also decay biases.")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing.")
flags.DEFINE_enum(
    "mixed_precision",
    "float32",
    ["float32", "mixed_float16", "mixed_bfloat16"],
    "Dtype policy (mixed_float16 uses dynamic loss scaling).",
)
# Run.
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker"],
    "tf.distribute strategy (multi_worker reads TF_CONFIG).",
)
flags.DEFINE_string("model_dir", None, "Checkpoints, logs, final weights.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_boolean("deterministic", False, "Deterministic TF ops.")
flags.DEFINE_integer("checkpoint_every_steps", 1000, "Checkpoint interval.")
flags.DEFINE_integer("max_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("log_every_steps", 50, "Summary/log interval.")
flags.DEFINE_boolean("progress_bar", True, "Show a progress bar.")

flags.mark_flags_as_required(["model", "train_records", "model_dir"])


def build_model(input_shape):
    """The zoo model to train (probabilities out, dropout in the head)."""
    from nonlocal_tf import zoo

    return zoo.get_model(
        FLAGS.model,
        weights=None,
        classes=FLAGS.num_classes,
        classifier_activation="sigmoid" if FLAGS.multi_label else "softmax",
        dropout_rate=FLAGS.dropout,
        input_shape=input_shape,
        width_per_group=FLAGS.width_per_group,
    )


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
    path = FLAGS.init_weights
    if not path or path.endswith(".weights.h5") or os.path.isdir(path):
        return path  # None, a *.weights.h5 file or a run directory
    if not os.path.exists(path):
        path = zoo.weights_path(FLAGS.model, path)  # a weight tag

    def load_checkpoint(model):
        # A head for other classes than the checkpoint's stays initialised.
        report = zoo.load_weights(model, path, skip_mismatched_head=True)
        logging.info("Initial weights: %s", report)

    return load_checkpoint


def train_dataset_fn(global_batch_size):
    """`dataset_fn(input_context)` over --train_records."""
    from nonlocal_tf import data

    def dataset_fn(input_context):
        return data.build_dataset(
            FLAGS.train_records,
            mode="train",
            num_frames=FLAGS.num_frames,
            sampling_rate=FLAGS.sampling_rate,
            crop_size=FLAGS.crop_size,
            jitter_scales=tuple(int(s) for s in FLAGS.jitter_scales),
            num_classes=FLAGS.num_classes,
            multi_label=FLAGS.multi_label,
            batch_size=input_context.get_per_replica_batch_size(
                global_batch_size
            ),
            input_context=input_context,
            seed=FLAGS.seed,
            shuffle=True,
            repeat=True,
        )

    return dataset_fn


def val_dataset():
    """The multi-view test pipeline over --val_records."""
    return script_utils.multi_view_dataset(FLAGS.val_records, FLAGS, 1)


def _steps_per_epoch(global_batch_size):
    if FLAGS.steps_per_epoch:
        return FLAGS.steps_per_epoch
    if not (FLAGS.epochs or FLAGS.lr_boundary_epochs or FLAGS.warmup_epochs):
        return None
    from nonlocal_tf import training

    examples = FLAGS.num_train_examples
    if not examples:
        logging.info("Counting records in %s ...", FLAGS.train_records)
        examples = training.count_records(FLAGS.train_records)
    steps = examples // global_batch_size
    if steps < 1:
        raise app.UsageError(
            f"{examples} training examples give no full global batch of "
            f"{global_batch_size}."
        )
    logging.info("%d examples -> %d steps per epoch.", examples, steps)
    return steps


def make_config(num_replicas):
    from nonlocal_tf import training

    global_batch_size = FLAGS.batch_size_per_replica * num_replicas
    steps_per_epoch = _steps_per_epoch(global_batch_size)
    boundaries = [int(b) for b in FLAGS.lr_boundaries]
    if FLAGS.lr_boundary_epochs:
        if boundaries:
            raise app.UsageError(
                "Give --lr_boundaries or --lr_boundary_epochs, not both."
            )
        boundaries = [
            round(float(e) * steps_per_epoch) for e in FLAGS.lr_boundary_epochs
        ]
    warmup_steps = FLAGS.warmup_steps
    if FLAGS.warmup_epochs:
        warmup_steps = round(FLAGS.warmup_epochs * steps_per_epoch)
    return training.TrainConfig(
        model_dir=FLAGS.model_dir,
        batch_size_per_replica=FLAGS.batch_size_per_replica,
        train_steps=FLAGS.train_steps,
        epochs=FLAGS.epochs,
        steps_per_epoch=steps_per_epoch,
        schedule=FLAGS.lr_schedule,
        base_learning_rate=FLAGS.base_lr,
        lr_boundaries=boundaries,
        lr_factor=FLAGS.lr_factor,
        warmup_steps=warmup_steps,
        warmup_start_learning_rate=FLAGS.warmup_start_lr,
        end_learning_rate=FLAGS.end_lr,
        momentum=FLAGS.momentum,
        nesterov=FLAGS.nesterov,
        weight_decay=FLAGS.weight_decay,
        decay_norm=FLAGS.decay_norm,
        decay_bias=FLAGS.decay_bias,
        label_smoothing=FLAGS.label_smoothing,
        multi_label=FLAGS.multi_label,
        mixed_precision=FLAGS.mixed_precision,
        strategy=FLAGS.strategy,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps,
        max_checkpoints=FLAGS.max_checkpoints,
        log_every_steps=FLAGS.log_every_steps,
        progress_bar=FLAGS.progress_bar,
        extra={
            "flags": {
                flag.name: flag.value
                for flag in FLAGS.get_key_flags_for_module(sys.argv[0])
            }
        },
    )


def main(argv):
    del argv
    # The strategy comes first: MultiWorkerMirroredStrategy must be created
    # before any other TensorFlow op.
    from nonlocal_tf import training

    strategy = training.create_strategy(FLAGS.strategy)
    names = script_utils.class_names(FLAGS, FLAGS.train_records)
    config = make_config(strategy.num_replicas_in_sync)
    shape = (FLAGS.num_frames, FLAGS.crop_size, FLAGS.crop_size, 3)
    dataset_fn = train_dataset_fn(
        FLAGS.batch_size_per_replica * strategy.num_replicas_in_sync
    )
    if FLAGS.data_service:
        from nonlocal_tf.training import data_service

        dataset_fn = data_service.service_dataset_fn(
            dataset_fn, FLAGS.data_service
        )
    result = training.train(
        config,
        lambda: build_model(shape),
        dataset_fn,
        strategy=strategy,
        initial_weights=initial_weights(),
    )
    logging.info(
        "Trained %d steps; weights %s", result.step, result.weights_path
    )
    if FLAGS.val_records and training.worker_info(strategy).is_chief:
        evaluate_trained(result.weights_path, names)


def evaluate_trained(weights_path, names):
    """Multi-view evaluation of the final weights on --val_records."""
    from nonlocal_tf import training

    size = FLAGS.test_crop_size
    model = build_model((FLAGS.num_frames, size, size, 3))
    model.load_weights(weights_path)
    result = training.evaluate(
        model,
        val_dataset(),
        multi_label=FLAGS.multi_label,
        num_clips=FLAGS.num_test_clips,
        num_crops=FLAGS.num_test_crops,
        class_names=names,
    )
    out = os.path.join(FLAGS.model_dir, "eval")
    training.write_metrics_json(
        result,
        os.path.join(out, "metrics.json"),
        {"setup": {"weights": weights_path, "test_records": FLAGS.val_records}},
    )
    training.write_per_class_csv(result, os.path.join(out, "per_class.csv"))
    training.write_predictions_csv(result, os.path.join(out, "predictions.csv"))
    logging.info("Validation: %s", result.metrics)


if __name__ == "__main__":
    app.run(main)
