"""Runs `training.train` on the tiny model in its own process (for tests).

`python -m tests.training.run_tiny --model_dir=D --result=R.json [...]`
writes R.json (step, resumed_from, per-step losses, history) and R.npz
(the final model variables). `--logical_devices=N` splits the CPU into N
logical devices first; `--strategy=multi_worker` reads TF_CONFIG.
`--one_line_errors` prints a user error as the programs do (`cli.guarded`).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--logical_devices", type=int, default=0)
    parser.add_argument("--batch_size_per_replica", type=int, default=4)
    parser.add_argument("--global_batch_size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps_per_epoch", type=int, default=6)
    parser.add_argument("--checkpoint_every_steps", type=int, default=1000)
    parser.add_argument("--batch_norm", action="store_true")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--sleep_per_step", type=float, default=0.0)
    parser.add_argument("--peer_timeout_seconds", type=float, default=None)
    parser.add_argument("--one_line_errors", action="store_true")
    return parser.parse_args(argv)


def main(argv):
    args = _parse(argv)
    import tensorflow as tf

    if args.logical_devices:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0],
            [tf.config.LogicalDeviceConfiguration()] * args.logical_devices,
        )
    from nonlocal_tf import training

    devices = None
    if args.strategy == "mirrored":
        devices = [f"CPU:{i}" for i in range(args.logical_devices)]
    timeout = {}
    if args.peer_timeout_seconds is not None:
        timeout["peer_timeout_seconds"] = args.peer_timeout_seconds
    strategy = training.create_strategy(
        args.strategy, devices=devices, **timeout
    )

    import numpy as np

    from tests.training import tiny

    config = training.TrainConfig(
        model_dir=args.model_dir,
        batch_size_per_replica=args.batch_size_per_replica,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        base_learning_rate=0.1,
        lr_boundaries=[args.steps_per_epoch],
        checkpoint_every_steps=args.checkpoint_every_steps,
        log_every_steps=2,
        progress_bar=False,
        deterministic=args.deterministic,
        strategy=args.strategy,
    )
    step_losses = []

    def record(step, logs):
        step_losses.append(logs["loss"])
        print(f"step {step}", flush=True)
        if args.sleep_per_step:
            time.sleep(args.sleep_per_step)

    result = training.train(
        config,
        lambda: tiny.tiny_model(
            batch_norm=args.batch_norm, dropout=args.dropout
        ),
        tiny.make_dataset_fn(
            args.global_batch_size, shuffle=args.shuffle, augment=args.augment
        ),
        strategy=strategy,
        callbacks=[record],
    )
    np.savez(
        args.result.replace(".json", ".npz"),
        *[np.asarray(v.numpy()) for v in result.model.variables],
    )
    with open(args.result, "w") as f:
        json.dump(
            {
                "step": result.step,
                "resumed_from": result.resumed_from,
                "step_losses": step_losses,
                "optimizer_iterations": int(
                    result.optimizer.iterations.numpy()
                ),
                "history": result.history,
                "num_replicas": strategy.num_replicas_in_sync,
            },
            f,
        )


if __name__ == "__main__":
    if "--one_line_errors" in sys.argv:
        from nonlocal_tf import cli

        # A user error as the programs print it: one `error:` line, status 1.
        cli.guarded(main)(sys.argv[1:])
    else:
        main(sys.argv[1:])
