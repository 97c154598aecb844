"""absl flags generated from a config dataclass: one name per setting.

Each field of the dataclass gets a flag of the same name, type, default and
help (the field's line in the class docstring's `Attributes:`), so a
program cannot re-state a setting under another name or default.

Example:
    >>> define_dataclass_flags(TrainConfig, exclude=("extra",),
    ...                        choices={"schedule": SCHEDULES})
    >>> config = dataclass_from_flags(TrainConfig, FLAGS, exclude=("extra",))
"""

import dataclasses
import re
import types
import typing

from absl import flags


def attribute_help(cls):
    """`{field: help}` from the `Attributes:` section of `cls.__doc__`."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    section = doc.split("Attributes:", 1)[1]
    section = re.split(r"\n\s*\n\s*\w+:\n|\n\s*Example:", section)[0]
    helps, name = {}, None
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match:
            name = match[1]
            helps[name] = match[2].strip()
        elif name and line.strip():
            helps[name] += " " + line.strip()
    return helps


def _base_type(annotation):
    """`int` for `int`, `int | None`, `typing.Optional[int]`, ..."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return origin or annotation


_DEFINERS = {
    bool: flags.DEFINE_boolean,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    list: flags.DEFINE_list,
}


def _default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def define_dataclass_flags(
    cls,
    *,
    exclude=(),
    defaults=None,
    choices=None,
    aliases=None,
    flag_values=flags.FLAGS,
):
    """Defines one flag per field of `cls` (minus `exclude`).

    Args:
        cls: a dataclass whose docstring lists its `Attributes:`.
        exclude: fields without a flag.
        defaults: `{field: value}` replacing the dataclass default for the
            program (required fields have none: None unless given here).
        choices: `{field: allowed values}` for enum flags.
        aliases: `{old_name: field}`: older flag names that keep working.
        flag_values: the `FlagValues` to define them in.

    Returns:
        The names of the flags defined.
    """
    defaults = defaults or {}
    choices = choices or {}
    helps = attribute_help(cls)
    hints = typing.get_type_hints(cls)
    names = []
    for field in dataclasses.fields(cls):
        name = field.name
        if name in exclude:
            continue
        default = defaults.get(name, _default(field))
        help_text = helps.get(name, name)
        kind = _base_type(hints[name])
        if name in choices:
            definer = flags.DEFINE_enum
            args = (name, default, list(choices[name]), help_text)
        else:
            definer = _DEFINERS.get(kind, flags.DEFINE_string)
            if kind is list:
                default = [str(v) for v in default] if default else []
            args = (name, default, help_text)
        definer(*args, flag_values=flag_values)
        names.append(name)
    for old, new in (aliases or {}).items():
        flags.DEFINE_alias(old, new, flag_values=flag_values)
    return names


def dataclass_values(cls, flag_values, *, exclude=()):
    """`{field: value}` of the flags `define_dataclass_flags` made."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        value = flag_values[field.name].value
        if _base_type(hints[field.name]) is list and value is not None:
            value = list(value)
        values[field.name] = value
    return values
