"""The registry of named zoo models: entries, aliases and look-up."""

import dataclasses
import difflib
import types

from nonlocal_tf.clip_spec import ClipSpec


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """A published accuracy and where it comes from."""

    top1: float
    top5: float
    source: str


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """One downloadable checkpoint of an entry.

    Attributes:
        file_name: the upstream file name, e.g.
            `i3d_nonlocal_8x8_IN_pretrain_400k.pkl`.
        url: where it is published.
        format: "caffe2" (pickled blob dict) or "pyslowfast" (`.pyth`).
        accuracy: what the publisher reports for this file, if anything.
        file_hash: sha256 of the file, checked when set (downloads and
            local files of this name); None where it is not known.
    """

    file_name: str
    url: str
    format: str = "caffe2"
    accuracy: Accuracy | None = None
    file_hash: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A named model: architecture, input contract and weight sources.

    Attributes:
        name: canonical name, e.g. `i3d_nl5_r50_8x8`.
        description: one line for MODEL_ZOO.md.
        architecture: keyword arguments of
            `nonlocal_tf.models.VideoClassifier` (a read-only mapping).
        clip_spec: the `ClipSpec` the published model was trained and
            tested with (frames x rate, sampling, crops, views,
            normalisation, test head): the only place these are defined.
        num_classes: classes of the published head.
        dataset: what the published head predicts.
        aliases: other names that resolve to this entry (upstream config and
            file names).
        weights: `{tag: WeightSource}`; `get_model(name, weights=tag)`.
        reported: accuracy reported for this architecture (the released
            checkpoint's when there is one, else the paper's).
        notes: placement choices, caveats, what is UNCONFIRMED.
    """

    name: str
    description: str
    architecture: types.MappingProxyType
    clip_spec: ClipSpec
    num_classes: int = 400
    dataset: str = "kinetics400"
    aliases: tuple = ()
    weights: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    reported: Accuracy | None = None
    notes: str = ""

    @property
    def input_shape(self):
        """The training clip `(T, crop, crop, 3)` of the entry's spec."""
        return self.clip_spec.train_input_shape


def _key(name):
    """Look-up key: case-insensitive, without a folder or a file suffix."""
    key = str(name).strip().rsplit("/", 1)[-1]
    for suffix in (".pkl", ".pyth", ".yaml", ".weights.h5"):
        if key.lower().endswith(suffix):
            key = key[: -len(suffix)]
    return key.lower()


class Registry:
    """Named entries plus aliases, with duplicate detection.

    Example:
        >>> registry = Registry()
        >>> registry.register(entry)
        >>> registry.get("I3D_NLN_8x8_R50").name
    """

    def __init__(self):
        self._entries = {}
        self._keys = {}

    def register(self, entry):
        """Adds `entry`; raises if its name or an alias is already taken."""
        for label in (entry.name,) + tuple(entry.aliases):
            key = _key(label)
            if key in self._keys:
                owner = self._keys[key]
                raise ValueError(
                    f"Cannot register {entry.name!r}: name {label!r} is "
                    f"already used by {owner!r}"
                )
        for label in (entry.name,) + tuple(entry.aliases):
            self._keys[_key(label)] = entry.name
        self._entries[entry.name] = entry
        return entry

    def names(self):
        """Canonical names in registration order."""
        return list(self._entries)

    def entries(self):
        return list(self._entries.values())

    def get(self, name):
        """The entry for a canonical name or alias (case-insensitive)."""
        key = _key(name)
        if key not in self._keys:
            raise ValueError(self._miss_message(name, key))
        return self._entries[self._keys[key]]

    def __contains__(self, name):
        return _key(name) in self._keys

    def _miss_message(self, name, key):
        matches = difflib.get_close_matches(key, list(self._keys), n=5)
        suggestions = []
        for match in matches:
            canonical = self._keys[match]
            label = next(
                label
                for label in (canonical,) + self._entries[canonical].aliases
                if _key(label) == match
            )
            shown = label if label == canonical else f"{label} -> {canonical}"
            if shown not in suggestions:
                suggestions.append(shown)
        hint = (
            f" Did you mean: {', '.join(suggestions)}?"
            if suggestions
            else " See nonlocal_tf.zoo.list_models()."
        )
        return f"Unknown model {name!r}.{hint}"
