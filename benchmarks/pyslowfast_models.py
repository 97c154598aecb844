"""PySlowFast's own video models, optimizer and training step, for timing.

Read from a checkout of facebookresearch/SlowFast (`--pyslowfast_dir`), as
`tests/fixtures/pyslowfast/README.md` records for the reference fixtures:
PySlowFast's config system (`slowfast/config/defaults.py` + a
`configs/Kinetics/<name>.yaml`), its `build_model`, `construct_optimizer`,
loss and top-k metrics, unchanged. Its `slowfast.models` package init also
imports the MViT / contrastive models (torchvision, matplotlib, OpenCV), so
the package is registered empty and only `build`, `video_model_builder`,
`optimizer` and `losses` are imported. The names those import from
`pytorchvideo` and `detectron2` (sync-BN classes never built, Swish,
distributed helpers, a soft-target loss, ROIAlign) get stand-ins when the
real packages are not installed; none is on a ResNet's forward or backward
path. Needs `torch` and the small pure-Python `fvcore`, `iopath`,
`simplejson`, `psutil` (`pip install fvcore iopath simplejson psutil`).

Nothing of PySlowFast's is copied here.
"""

import importlib
import importlib.util
import os
import sys
import types

# Kinetics configs, relative to a checkout.
CONFIG_DIR = os.path.join("configs", "Kinetics")
# The modules the ResNet build path imports (see the module docstring).
REQUIRED_PACKAGES = ("fvcore", "iopath", "simplejson", "psutil", "torch")


def config_path(checkout, name):
    """`configs/Kinetics/<name>.yaml` of a checkout; a clear error if absent.

    Example:
        >>> config_path("SlowFast", "I3D_NLN_8x8_R50")
        'SlowFast/configs/Kinetics/I3D_NLN_8x8_R50.yaml'
    """
    path = os.path.join(checkout, CONFIG_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path!r} not found: --pyslowfast_dir must be a clone of "
            "https://github.com/facebookresearch/SlowFast and each model a "
            f"PySlowFast Kinetics config name (files in {CONFIG_DIR})"
        )
    return path


def missing_packages():
    """The packages of `REQUIRED_PACKAGES` that cannot be imported."""
    return [p for p in REQUIRED_PACKAGES if importlib.util.find_spec(p) is None]


def _stand_in(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []  # a package, so sub-modules can be registered
    sys.modules[name] = module
    return module


def _install_stand_ins():
    """Stand-ins for optional `pytorchvideo` / `detectron2` names, if absent."""
    import torch

    def unavailable(what):
        class Unavailable:
            def __init__(self, *args, **kwargs):
                raise RuntimeError(
                    f"{what} is a stand-in of the PySlowFast benchmark (not on "
                    "a ResNet's path); install the real package to use it"
                )

        Unavailable.__name__ = what.rsplit(".", 1)[-1]
        return Unavailable

    if importlib.util.find_spec("pytorchvideo") is None:
        _stand_in("pytorchvideo")
        _stand_in("pytorchvideo.layers")
        _stand_in("pytorchvideo.losses")
        _stand_in(
            "pytorchvideo.layers.batch_norm",
            NaiveSyncBatchNorm1d=unavailable("NaiveSyncBatchNorm1d"),
            NaiveSyncBatchNorm3d=unavailable("NaiveSyncBatchNorm3d"),
        )
        _stand_in("pytorchvideo.layers.swish", Swish=unavailable("Swish"))
        _stand_in(
            "pytorchvideo.losses.soft_target_cross_entropy",
            SoftTargetCrossEntropyLoss=unavailable(
                "SoftTargetCrossEntropyLoss"
            ),
        )
        # One process, as PySlowFast reports without torch.distributed.
        _stand_in(
            "pytorchvideo.layers.distributed",
            cat_all_gather=lambda tensors, local=False: torch.cat(tensors),
            get_local_process_group=lambda: None,
            get_local_rank=lambda: 0,
            get_local_size=lambda: 1,
            get_world_size=lambda: 1,
            init_distributed_training=lambda *args, **kwargs: None,
        )
    if importlib.util.find_spec("detectron2") is None:
        _stand_in("detectron2")
        _stand_in("detectron2.layers", ROIAlign=unavailable("ROIAlign"))


def load(checkout):
    """PySlowFast's modules from `checkout`, as a namespace.

    Returns:
        A `types.SimpleNamespace` with `defaults` (slowfast.config.defaults),
        `build` (slowfast.models.build), `optimizer`, `losses` and
        `metrics` (slowfast.utils.metrics).

    Raises:
        FileNotFoundError: `checkout` is not a SlowFast clone.
        ModuleNotFoundError: a required package is not installed.
    """
    if not os.path.isfile(
        os.path.join(checkout, "slowfast", "models", "build.py")
    ):
        raise FileNotFoundError(
            f"{checkout!r} has no slowfast/models/build.py: pass a clone of "
            "https://github.com/facebookresearch/SlowFast"
        )
    missing = missing_packages()
    if missing:
        raise ModuleNotFoundError(
            f"PySlowFast's model builder needs {', '.join(missing)}: "
            f"pip install {' '.join(missing)}"
        )
    checkout = os.path.abspath(checkout)
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    _install_stand_ins()
    if "slowfast.models" not in sys.modules:
        importlib.import_module("slowfast")
        package = types.ModuleType("slowfast.models")
        package.__path__ = [os.path.join(checkout, "slowfast", "models")]
        sys.modules["slowfast.models"] = package
    names = {
        "defaults": "slowfast.config.defaults",
        "build": "slowfast.models.build",
        "video_model_builder": "slowfast.models.video_model_builder",
        "optimizer": "slowfast.models.optimizer",
        "losses": "slowfast.models.losses",
        "metrics": "slowfast.utils.metrics",
    }
    return types.SimpleNamespace(
        **{key: importlib.import_module(name) for key, name in names.items()}
    )


def build_config(pyslowfast, checkout, name, *, num_frames, crop_size,
                 width_per_group=64, num_classes=None):  # fmt: skip
    """PySlowFast's config `name` for a CPU run at the given clip size.

    Defaults, then `configs/Kinetics/<name>.yaml`, then: `NUM_GPUS` 0,
    `DATA.NUM_FRAMES`, `DATA.TRAIN_CROP_SIZE` / `TEST_CROP_SIZE` (the head
    pools globally at the train crop), `RESNET.WIDTH_PER_GROUP` and
    optionally `MODEL.NUM_CLASSES`; then `assert_and_infer_cfg`.
    """
    cfg = pyslowfast.defaults.get_cfg()
    cfg.merge_from_file(config_path(checkout, name))
    cfg.NUM_GPUS = 0
    cfg.DATA.NUM_FRAMES = num_frames
    cfg.DATA.TRAIN_CROP_SIZE = crop_size
    cfg.DATA.TEST_CROP_SIZE = crop_size
    cfg.RESNET.WIDTH_PER_GROUP = width_per_group
    if num_classes is not None:
        cfg.MODEL.NUM_CLASSES = num_classes
    return pyslowfast.defaults.assert_and_infer_cfg(cfg)


def build_model(pyslowfast, cfg):
    """`build_model(cfg)` on the CPU, and its trainable parameter count."""
    model = pyslowfast.build.build_model(cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, int(trainable)


def inference_call(model, clips):
    """`fn()`: PySlowFast's test forward (eval mode, no gradients).

    Args:
        model: A PySlowFast model.
        clips: A `(B, C, T, H, W)` float32 tensor.
    """
    import torch

    def call():
        model.eval()
        with torch.no_grad():
            return model([clips])

    return call


def training_call(pyslowfast, cfg, model, clips, labels):
    """`fn()`: one iteration of PySlowFast's `train_epoch` (tools/train_net.py).

    Its order, with PySlowFast's own functions: learning rate of the epoch
    (`get_epoch_lr`, `set_lr`), forward in train mode, the config's loss
    (`cross_entropy`, mean), `zero_grad`, backward, the gradient norm
    (`get_grad_norm_`, which `train_epoch` computes every step), the
    optimizer step (`construct_optimizer`: SGD, momentum and weight decay
    as the config says), then the top-1/top-5 errors and `loss.item()`. The
    disabled AMP `GradScaler` of a float32 run is a pass-through and left
    out.
    """
    optim = pyslowfast.optimizer
    optimizer = optim.construct_optimizer(model, cfg)
    loss_fun = pyslowfast.losses.get_loss_func(cfg.MODEL.LOSS_FUNC)(
        reduction="mean"
    )
    state = {"iteration": 0}

    def call():
        model.train()
        epoch = state["iteration"] / 1000.0
        state["iteration"] += 1
        optim.set_lr(optimizer, optim.get_epoch_lr(epoch, cfg))
        preds = model([clips])
        loss = loss_fun(preds, labels)
        optimizer.zero_grad()
        loss.backward()
        optim.get_grad_norm_(model.parameters())
        optimizer.step()
        correct = pyslowfast.metrics.topks_correct(preds, labels, (1, 5))
        errors = [(1.0 - x / preds.size(0)) * 100.0 for x in correct]
        return loss.item(), [float(e) for e in errors]

    return call
