"""Plain-JSON encoding of the model's dataclasses.

Steps and outcomes cross a process boundary (the agent on a lab machine) and
are stored in evidence bundles that a later model judges again, so they
need a stable, explicit wire form: every dataclass becomes an object with a
`"type"` tag, enums their values, tuples lists.  Only classes registered
here can be decoded, so an evidence file cannot instantiate arbitrary code.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from enum import Enum
from typing import Any

from hil.model import steps, vocabulary

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    _REGISTRY[cls.__name__] = cls
    return cls


for _cls in (
    steps.Enable,
    steps.Request,
    steps.Release,
    steps.Affinity,
    steps.Fire,
    steps.FireWhileMoving,
    steps.Store,
    steps.FireStored,
    steps.CpuOffline,
    steps.CpuOnline,
    steps.Disable,
    vocabulary.MsiMessage,
    vocabulary.VectorView,
    vocabulary.Delivery,
    vocabulary.StepOutcome,
    vocabulary.MessageWrite,
    vocabulary.IrteWrite,
    vocabulary.KernelWrites,
):
    register(_cls)


def encode(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(kind):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    if names is not None:
        out: dict[str, Any] = {"type": kind.__name__}
        for name in names:
            out[name] = encode(getattr(value, name))
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


_SCALARS = frozenset({int, str, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
"""Each dataclass's field names, looked up once: the agent encodes every step's
outcome (~100 objects) in a TCG guest, where `dataclasses.fields` per object
cost as much as observing the step."""


def decode(data: Any) -> Any:
    """Decode a tagged object produced by `encode`; untagged data is returned as is."""
    if isinstance(data, dict) and "type" in data:
        cls = _REGISTRY.get(data["type"])
        if cls is None:
            raise ValueError(f"unknown type tag {data['type']!r}")
        kwargs = {}
        for name, hint in _typed_fields(cls):
            if name in data:
                kwargs[name] = _coerce(hint, data[name])
        return cls(**kwargs)
    return data


@functools.cache
def _typed_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """Each field's name and resolved type: resolving the string annotations took
    a third of the controller's time per step (a step's outcome is ~20 objects)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _coerce(hint: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, raw)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"cannot decode {raw!r} as {hint}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in raw)
        return tuple(_coerce(a, v) for a, v in zip(args, raw, strict=True))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if isinstance(raw, dict) and "type" in raw:
        return decode(raw)
    if hint is int and not isinstance(raw, int):
        raise TypeError(f"expected int, got {raw!r}")
    if hint is str and not isinstance(raw, str):
        raise TypeError(f"expected str, got {raw!r}")
    return raw
