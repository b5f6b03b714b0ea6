"""Frozen dataclasses built without their generated __init__.

That __init__ sets each field through object.__setattr__, several times slower
than a plain attribute, and the model makes some of these objects on every step
(outcomes, predictions, views, deliveries) or on every move without IR (compat
messages).  An instance made bare and given its whole instance dict at once is
the same object (tests/model/test_model_build.py checks it for every class the
model builds so).
"""

from __future__ import annotations

from collections.abc import Callable

new_instance = object.__new__
"""A bare instance of a class: its __init__ not run, its instance dict empty."""


def dict_setter(cls: type) -> Callable[[object, dict[str, object]], None]:
    """The setter of the instance dict of `cls` (its `__dict__` descriptor's __set__).

    It bypasses the frozen class's own __setattr__, which refuses every assignment,
    like `object.__setattr__(obj, "__dict__", fields)`, but without that call's
    generic attribute lookup: half the cost, and every step sets two or three."""
    for klass in cls.__mro__:
        if "__dict__" in vars(klass):
            setter: Callable[[object, dict[str, object]], None] = vars(klass)["__dict__"].__set__
            return setter
    raise TypeError(f"{cls.__name__} instances have no __dict__")
