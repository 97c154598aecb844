"""`VideoClassifier`: the KerasHub task of the C2D / I3D video ResNets.

A `keras_hub.models.Task` on a `VideoResNetBackbone`: the head follows the
model's `ClipSpec` (global average or fully convolutional), the preprocessor
is the spec's test transform, and the config holds the backbone, the head
and the spec, so a `.keras` file or a preset reloads into the same class with
the same input contract (`model.clip_spec`).
"""

import json
import os

import keras
import keras_hub
from keras.src.backend.common.stateless_scope import in_stateless_scope

from nonlocal_tf import fileio
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import architecture
from nonlocal_tf.models import heads
from nonlocal_tf.models.preprocessing import VideoClassifierPreprocessor
from nonlocal_tf.models.preprocessing import VideoResNetVideoConverter
from nonlocal_tf.models.video_resnet import ARCHITECTURE_KEYS
from nonlocal_tf.models.video_resnet import SOURCE_RESOLVERS
from nonlocal_tf.models.video_resnet import VideoResNetBackbone

# KerasHub finds a preset's converter and preprocessor classes by backbone.
VideoResNetVideoConverter.backbone_cls = VideoResNetBackbone
VideoClassifierPreprocessor.backbone_cls = VideoResNetBackbone

# The paper's recipe (paper_spec.md §5): SGD, Nesterov momentum 0.9, weight
# decay 1e-4 on everything but BN parameters and biases.
BASE_LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class VideoClassifier(keras_hub.models.Task):
    """A video classifier: `VideoResNetBackbone` + the clip spec's head.

    KerasHub's task for videos, modelled on `keras_hub.models.
    ImageClassifier`: `from_preset` / `save_to_preset`, `fit`, `predict` and
    `evaluate` run the `preprocessor` on their inputs, and `compile()`
    defaults to the paper's recipe. The head's layers keep the Caffe2 blob
    names (`pool5`, `dropout`, `pred`), and the model's layers are the
    backbone's (shared, not nested), so `model.get_layer("res3_0_branch2a")`
    and checkpoint loading by name work on the task as on the backbone.

    Inputs: uint8 clips (B, T, H, W, 3) of any frame size are preprocessed
    with the spec's test transform (short side `test_crop_size`, centre crop,
    normalisation) by `predict`/`fit`/`evaluate`; float clips are taken as
    normalised model input (what `nonlocal_tf.data.build_dataset` gives).
    Calling the model directly (`model(x)`) never preprocesses.

    Args:
        backbone: a `VideoResNetBackbone`; None builds one from
            `**kwargs` (its architecture arguments: `depth`, `arch`,
            `width_per_group`, `nonlocal_locations`, ...) and `input_shape`.
        num_classes: outputs of the classifier.
        preprocessor: a `VideoClassifierPreprocessor`; None makes the clip
            spec's (`VideoClassifierPreprocessor.from_clip_spec`).
        clip_spec: the `ClipSpec` (or its dict) of the clips the model takes;
            it sizes the fully convolutional head's window. Default
            `ClipSpec()`.
        include_top: add the classifier head (`clip_spec.test_head`).
        pooling: without the top: None (5D features), "avg" or "max".
        classifier_activation: activation of the top (float32); None gives
            logits.
        dropout_rate: dropout before the classifier (0.5 in the references).
        class_names: optional names of the `num_classes` outputs, in
            order; kept in the config (presets, `.keras` files, exports).
        input_shape: `(T, H, W, C)` of a backbone built here.
        name: model name.
        compile: compile with the paper's recipe (`compile()`).
        **kwargs: the backbone's architecture arguments (when `backbone` is
            None), `dtype`, and `keras.Model` arguments (`trainable`).
            Anything else is an error naming it.

    Example:
        >>> model = VideoClassifier(
        ...     depth=50, arch="i3d", width_per_group=8, num_classes=10,
        ...     nonlocal_locations=[[], [1, 3], [1, 3, 5], []])
        >>> model(keras.ops.zeros((1, 8, 64, 64, 3))).shape
        (1, 10)
        >>> model.clip_spec.num_frames
        8
        >>> model.predict(np.zeros((1, 8, 240, 320, 3), "uint8")).shape
        (1, 10)
    """

    backbone_cls = VideoResNetBackbone
    preprocessor_cls = VideoClassifierPreprocessor

    def __init__(
        self,
        backbone=None,
        num_classes=400,
        preprocessor=None,
        *,
        clip_spec=None,
        include_top=True,
        pooling=None,
        classifier_activation="softmax",
        dropout_rate=0.5,
        class_names=None,
        input_shape=None,
        name="video_classifier",
        compile=True,
        **kwargs,
    ):
        spec = (
            ClipSpec() if clip_spec is None else ClipSpec.from_dict(clip_spec)
        )
        _check_head(pooling, include_top, num_classes)
        class_names = _check_class_names(class_names, num_classes)
        backbone_kwargs = {
            k: kwargs.pop(k) for k in ARCHITECTURE_KEYS if k in kwargs
        }
        dtype = kwargs.pop("dtype", None)
        if backbone is None:
            backbone = VideoResNetBackbone(
                input_shape=input_shape, dtype=dtype, **backbone_kwargs
            )
        elif backbone_kwargs or input_shape is not None:
            given = sorted(backbone_kwargs) + (
                ["input_shape"] if input_shape is not None else []
            )
            raise ValueError(
                f"VideoClassifier got a backbone and {given}: architecture "
                "arguments belong to the backbone (VideoResNetBackbone)"
            )
        if not isinstance(backbone, VideoResNetBackbone):
            raise ValueError(
                "backbone must be a nonlocal_tf.models.VideoResNetBackbone; "
                f"received {type(backbone).__name__}"
            )
        if preprocessor is None:
            preprocessor = VideoClassifierPreprocessor.from_clip_spec(spec)

        # === Config (compile() reads it) ===
        self._clip_spec = spec
        self.num_classes = num_classes
        self.include_top = include_top
        self.pooling = pooling
        self.classifier_activation = classifier_activation
        self.dropout_rate = dropout_rate
        self.class_names = class_names

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor

        # === Functional model ===
        # The head continues the backbone's graph, so the task's layers are
        # the backbone's own (checkpoints and `get_layer` see one model).
        x = backbone.output
        if include_top:
            x = heads.classifier_head(
                x,
                num_classes=num_classes,
                test_head=spec.test_head,
                pool_size=head_pool_size(
                    spec, backbone.stem, backbone.architecture["pool2"]
                ),
                activation=classifier_activation,
                dropout_rate=dropout_rate,
            )
        elif pooling == "avg":
            x = keras.layers.GlobalAveragePooling3D(name="pool5")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling3D(name="pool5")(x)
        super().__init__(
            inputs=backbone.input,
            outputs=x,
            name=name,
            # No optimizer variables where a scope forbids them (shapes-only
            # builds under `keras.StatelessScope`).
            compile=compile and not in_stateless_scope(),
            **kwargs,
        )

    @classmethod
    def from_preset(cls, preset, load_weights=True, num_classes=None, **kwargs):
        """A classifier from any model source.

        Args:
            preset: a zoo preset name (`VideoClassifier.presets`: a zoo
                entry and weight tag, downloaded, converted and cached once),
                a local preset directory, a `kaggle://` / `hf://` handle, a
                training run's directory or a `.keras` file (all but
                directories and handles through `nonlocal_tf.zoo`, which
                `import nonlocal_tf` registers).
            load_weights: False gives the source's architecture, randomly
                initialised.
            num_classes: another class count than the source's keeps every
                weight but the head, which starts fresh (the log says so).
            **kwargs: KerasHub loader arguments (`dtype`) for preset
                directories and handles.

        Example:
            >>> model = VideoClassifier.from_preset(
            ...     "i3d_nl5_r50_8x8_pyslowfast_kinetics400", num_classes=3)
        """
        if SOURCE_RESOLVERS and not kwargs:
            return SOURCE_RESOLVERS[0](
                preset, num_classes=num_classes, load_weights=load_weights
            )
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return cls.load_keras_hub_preset(preset, load_weights, **kwargs)

    @classmethod
    def load_keras_hub_preset(cls, preset, load_weights=True, **kwargs):
        """KerasHub's own `Task.from_preset` (directories and handles)."""
        return super().from_preset(preset, load_weights=load_weights, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10, *, model_card=None):
        """Writes a KerasHub preset directory and its model card.

        KerasHub's layout (`config.json`, `model.weights.h5`, `task.json`,
        `task.weights.h5`, `preprocessor.json`, `video_converter.json`,
        `metadata.json`) plus `labels.json` (the class names, where the
        model has them; also in `task.json`) and `README.md`: the source,
        the reported accuracy, the clip spec and the sha256 of each weight
        file.

        Args:
            preset_dir: the directory (created).
            max_shard_size: KerasHub's weight shard size in GB.
            model_card: optional `{"source", "reported", "description"}`.

        Example:
            >>> model.save_to_preset("presets/my_i3d")
            >>> VideoClassifier.from_preset("presets/my_i3d")
        """
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        if self.class_names:
            with open(os.path.join(preset_dir, "labels.json"), "w") as f:
                json.dump(self.class_names, f, indent=1)
        write_model_card(self, preset_dir, model_card or {})

    @property
    def clip_spec(self):
        """The `ClipSpec` of the clips this model takes (read-only)."""
        return self._clip_spec

    @property
    def architecture(self):
        """The backbone's architecture arguments (a copy)."""
        return self.backbone.architecture

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        metrics="auto",
        **kwargs,
    ):
        """Configures training; "auto" gives the paper's recipe.

        Args:
            optimizer: "auto": `keras.optimizers.SGD` with Nesterov momentum
                0.9, learning rate 0.01 and weight decay 1e-4 on every
                variable but BN parameters and biases (Keras decays
                decoupled; `nonlocal_tf.training.MomentumSGD` is the
                reference code's coupled form), or any Keras optimizer.
            loss: "auto": sparse categorical cross-entropy (from logits when
                `classifier_activation` is not softmax), or any Keras loss.
            metrics: "auto": sparse categorical accuracy, or a list.
            **kwargs: other `keras.Model.compile` arguments.

        Example:
            >>> model.compile(optimizer=keras.optimizers.SGD(0.001,
            ...                                              momentum=0.9))
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.SGD(
                BASE_LEARNING_RATE,
                momentum=MOMENTUM,
                nesterov=True,
                weight_decay=WEIGHT_DECAY,
            )
            optimizer.exclude_from_weight_decay(
                var_list=no_decay_variables(self)
            )
        if loss == "auto":
            activation = keras.activations.get(self.classifier_activation)
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=activation != keras.activations.softmax
            )
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def compile_from_config(self, config):
        """Recompiles a loaded model as it was saved (`keras.saving`)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "clip_spec": self._clip_spec.to_dict(),
                "include_top": self.include_top,
                "pooling": self.pooling,
                "classifier_activation": self.classifier_activation,
                "dropout_rate": self.dropout_rate,
                "class_names": self.class_names,
            }
        )
        return config


def write_model_card(model, preset_dir, card):
    """`README.md` of a preset: what it is, its input contract, its files."""
    lines = [
        f"# {model.name}",
        "",
        card.get("description")
        or "A nonlocal-tf VideoClassifier (Non-local Neural Networks, "
        "Wang et al., CVPR 2018).",
        "",
        "```python",
        "import nonlocal_tf",
        "",
        "model = nonlocal_tf.VideoClassifier.from_preset(PATH_OR_HANDLE)",
        "```",
        "",
        f"- Source: {card.get('source') or 'saved with save_to_preset'}",
    ]
    reported = card.get("reported")
    if reported is not None:
        lines.append(
            f"- Reported accuracy: top-1 {reported.top1}, top-5 "
            f"{reported.top5} ({reported.source})"
        )
    lines += [
        f"- Classes: {model.num_classes}"
        + (
            f" ({', '.join(model.class_names[:10])}"
            + (", ...)" if model.num_classes > 10 else ")")
            if model.class_names
            else ""
        ),
        f"- Clips: {model.clip_spec.describe()}",
        "",
        "Clip spec:",
        "",
        "```json",
        json.dumps(model.clip_spec.to_dict(), indent=2, sort_keys=True),
        "```",
        "",
        "| file | sha256 |",
        "|---|---|",
    ]
    for name in sorted(os.listdir(preset_dir)):
        path = os.path.join(preset_dir, name)
        if name.endswith(".h5") and os.path.isfile(path):
            lines.append(f"| {name} | {fileio.sha256(path)} |")
    with open(os.path.join(preset_dir, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def no_decay_variables(model):
    """The trainable variables without weight decay: BN parameters, biases.

    Example:
        >>> len(no_decay_variables(model)) > 0
        True
    """
    excluded = set()
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            excluded.update(id(v) for v in layer.trainable_variables)
    return [
        v
        for v in model.trainable_variables
        if id(v) in excluded or v.name == "bias"
    ]


def _check_class_names(class_names, num_classes):
    if class_names is None:
        return None
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(
            f"class_names has {len(names)} names; num_classes={num_classes}"
        )
    return names


def _check_head(pooling, include_top, num_classes):
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            f"pooling must be None, 'avg' or 'max'; received {pooling!r}"
        )
    if include_top and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes < 1
    ):
        raise ValueError(
            f"num_classes must be a positive int; received {num_classes!r}"
        )


def head_pool_size(spec, stem="pyslowfast", pool2=True):
    """The fully convolutional window: res5's map at the training clip.

    `(T5, crop_size // 32, crop_size // 32)`, as PySlowFast's head pool
    (`[NUM_FRAMES // pool, TRAIN_CROP_SIZE // 32, ...]`) and Caffe2's test
    `pool5` (T, 7, 7) at a 224 crop.

    Example:
        >>> head_pool_size(ClipSpec(num_frames=32, sampling_rate=2),
        ...                "caffe2_org")
        (4, 7, 7)
    """
    side = max(spec.crop_size // 32, 1)
    frames = architecture.res5_temporal_size(spec.num_frames, stem, pool2)
    return (frames, side, side)
