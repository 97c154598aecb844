"""Presets: the one resolver from a model source to a `VideoClassifier`.

Every way to name a model ends here: a zoo preset name (an entry and one of
its weight tags, `i3d_nl5_r50_8x8_kinetics400`), a zoo architecture name
(random initialisation), a KerasHub preset directory or `kaggle://` /
`hf://` handle, a training run's directory and a `.keras` file. A published
Caffe2 / PySlowFast file is downloaded once (`downloads.fetch`), converted and
cached as a preset directory, so later calls need neither network nor
conversion. A `num_classes` other than the source's keeps every weight but
the head, which starts fresh (and the log says so).
"""

import json
import os
import shutil
import tempfile
import zipfile

import keras
from absl import logging

from nonlocal_tf import run_files
from nonlocal_tf.models import VideoClassifier

from . import downloads
from . import loading

PRESET_CACHE_SUBDIR = os.path.join("models", "nonlocal_tf", "presets")
HANDLE_PREFIXES = ("kaggle://", "hf://", "gs://", "modelscope://")
PRESET_FILES = ("config.json", "task.json", "model.weights.h5")


class SourceError(ValueError):
    """A model source that cannot be read: one line naming it and why."""


class MissingSourceError(SourceError, FileNotFoundError):
    """A path that is no preset, run directory or `.keras` file."""


def preset_name(entry, tag):
    """The preset name of a zoo entry's weight tag.

    Example:
        >>> preset_name(get_entry("I3D_NLN_8x8_R50"), "kinetics400")
        'i3d_nl5_r50_8x8_pyslowfast_kinetics400'
    """
    return f"{entry.name}_{tag}"


def preset_table(registry):
    """`{preset name: (entry, tag)}` of every published weight file."""
    return {
        preset_name(entry, tag): (entry, tag)
        for entry in registry.entries()
        for tag in entry.weights
    }


def find_preset(registry, name):
    """`(entry, tag)` of a preset name (case-insensitive), else None.

    A preset name is an entry name or alias followed by `_<tag>`.
    """
    key = str(name).strip().lower()
    table = {k.lower(): v for k, v in preset_table(registry).items()}
    if key in table:
        return table[key]
    for entry in registry.entries():
        for tag in entry.weights:
            for alias in entry.aliases:
                if key == f"{alias}_{tag}".lower():
                    return entry, tag
    return None


def cache_root(cache_dir=None):
    """Where converted presets are cached (under `KERAS_HOME`)."""
    base = (
        cache_dir
        or os.environ.get("KERAS_HOME")
        or os.path.join(os.path.expanduser("~"), ".keras")
    )
    return os.path.join(base, PRESET_CACHE_SUBDIR)


def is_preset_dir(path):
    """Whether `path` is a local KerasHub preset directory.

    Its `config.json` is a serialised Keras object (a training run's
    `config.json` is its training configuration).
    """
    config = os.path.join(path, "config.json")
    if not os.path.isfile(config):
        return False
    try:
        with open(config, encoding="utf-8") as f:
            return "registered_name" in json.load(f)
    except (OSError, ValueError):
        return False


def _check_preset_dir(path):
    missing = [
        name
        for name in PRESET_FILES
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise SourceError(
            f"preset {path} is incomplete: no {', '.join(missing)}"
        )


def materialize(entry, tag, *, cache_dir=None, build_model):
    """The local preset directory of a published checkpoint, made once.

    Downloads the entry's `tag` file (sha256-checked where the zoo knows
    the hash), converts it into the entry's model, and writes the preset
    into a temporary directory renamed into the cache when complete, so an
    interrupted conversion leaves nothing behind.

    Args:
        entry: the `ModelEntry`.
        tag: one of `entry.weights`.
        cache_dir: the Keras cache root; default `KERAS_HOME` or `~/.keras`.
        build_model: `fn(entry, weights_path) -> VideoClassifier`.

    Returns:
        The preset directory.
    """
    target = os.path.join(cache_root(cache_dir), preset_name(entry, tag))
    if is_preset_dir(target):
        return target
    source = entry.weights[tag]
    path = downloads.fetch(
        source.url,
        source.file_name,
        file_hash=source.file_hash,
        cache_dir=cache_dir,
    )
    logging.info("Converting %s into preset %s", path, target)
    model = build_model(entry, path)
    write_preset(
        model,
        target,
        model_card={
            "source": f"{source.url} ({source.format} checkpoint)",
            "reported": source.accuracy or entry.reported,
            "description": entry.description,
        },
    )
    return target


def write_preset(model, target, *, model_card=None):
    """`model.save_to_preset(target)`, whole or not at all.

    The preset is written into a temporary sibling directory renamed onto
    `target` when complete, so an interrupted write leaves nothing.

    Raises:
        FileExistsError: `target` exists.

    Example:
        >>> write_preset(model, "presets/i3d_nl5_r50_8x8_kinetics400")
    """
    target = os.path.abspath(os.fspath(target))
    if os.path.exists(target):
        raise FileExistsError(f"{target} exists; choose a new preset folder")
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(target)}.", dir=parent
    )
    try:
        model.save_to_preset(staging, model_card=model_card)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_keras_file(path):
    if not os.path.isfile(path):
        raise MissingSourceError(f"no such .keras file: {path}")
    if not zipfile.is_zipfile(path):
        raise SourceError(
            f"{path} is damaged or truncated: a .keras file is a zip archive"
        )


def keras_file_config(path):
    """The serialised model in a `.keras` file (its `config.json`).

    Raises:
        SourceError: a missing, damaged or truncated file (one line).
    """
    _check_keras_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise SourceError(
            f"{path} is damaged: no readable config.json in the archive "
            f"({type(e).__name__})"
        ) from None


def _load_keras_file(path):
    _check_keras_file(path)
    try:
        model = keras.saving.load_model(path, compile=False)
    # Found by fuzzing: Keras reports a config it cannot rebuild as a
    # TypeError, h5py a damaged weights file as a RuntimeError.
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        KeyError,
        ValueError,
        TypeError,
        RuntimeError,
    ) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise SourceError(
            f"{path} is not a readable .keras file ({type(e).__name__}: "
            f"{first})"
        ) from None
    if not isinstance(model, VideoClassifier):
        raise SourceError(
            f"{path} holds a {type(model).__name__}, not a nonlocal_tf "
            "VideoClassifier: it carries no clip spec"
        )
    return model


def _load_run(path, load_weights):
    model = loading.model_from_run(path)
    if load_weights:
        loading.load_weights(model, path)
    return model


def _load_preset(source, load_weights):
    if not source.startswith(HANDLE_PREFIXES):
        _check_preset_dir(source)
    try:
        return VideoClassifier.load_keras_hub_preset(
            source, load_weights=load_weights
        )
    except (OSError, EOFError, KeyError) as error:
        raise SourceError(
            f"preset {source} could not be read ({type(error).__name__}: "
            f"{error})"
        ) from None


def with_head(model, num_classes):
    """`loading.with_head`, logged: a fresh head, every other weight kept."""
    if num_classes is None or num_classes == model.num_classes:
        return model
    logging.info(
        "%s: a new %d-class head replaces the source's %d-class head; every "
        "other weight is kept",
        model.name,
        num_classes,
        model.num_classes,
    )
    return loading.with_head(model, num_classes)


def resolve(
    source,
    *,
    registry,
    build_model,
    num_classes=None,
    load_weights=True,
    cache_dir=None,
):
    """A `VideoClassifier` from any model source (the one resolver).

    Args:
        source: a preset name, a local preset directory or KerasHub handle,
            a training run's directory, a `.keras` file.
        registry: the zoo `Registry`.
        build_model: `fn(entry, weights_path) -> VideoClassifier`, the zoo's
            converter for published checkpoints.
        num_classes: a class count; another than the source's gets a fresh
            head (`with_head`).
        load_weights: False gives the source's architecture, randomly
            initialised.
        cache_dir: the Keras cache root for downloads and converted presets.

    Raises:
        SourceError: the source is none of these, or cannot be read (one
            line naming it).
    """
    source = os.fspath(source)
    found = find_preset(registry, source)
    if found is not None:
        entry, tag = found
        if load_weights:
            source = materialize(
                entry, tag, cache_dir=cache_dir, build_model=build_model
            )
            model = _load_preset(source, True)
        else:
            model = build_model(entry, None)
    elif source.startswith(HANDLE_PREFIXES) or is_preset_dir(source):
        model = _load_preset(source, load_weights)
    elif os.path.isfile(run_files.model_config_path(source)):
        model = _load_run(source, load_weights)
    elif source.endswith(".keras"):
        model = _load_keras_file(source)
    elif os.path.isdir(source):
        raise MissingSourceError(
            f"{source} is neither a preset (no config.json) nor a training "
            f"run (no {run_files.MODEL_CONFIG})"
        )
    elif os.sep in source or source.startswith("."):
        raise MissingSourceError(
            f"{source}: no such preset directory, run directory or .keras file"
        )
    elif source in registry:
        if load_weights:
            logging.warning(
                "%s names an architecture, not a preset with weights: the "
                "model is randomly initialised (presets: %s_<tag>)",
                source,
                registry.get(source).name,
            )
        model = build_model(registry.get(source), None)
    else:
        raise SourceError(_unknown_name(registry, source))
    return with_head(model, num_classes)


def _unknown_name(registry, source):
    try:
        registry.get(source)
    except ValueError as error:
        names = sorted(preset_table(registry))
        return (
            f"{error} Presets: {', '.join(names[:3])}, ... ({len(names)} in "
            "VideoClassifier.presets)"
        )
    return f"{source!r}: unknown model source"
