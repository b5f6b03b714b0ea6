"""What the model says about a step, and how sure it is.

A prediction is a `StepOutcome` plus two annotations:

* `uncertain`: field paths the model cannot pin down (for example a vector
  number when calibration only gave per-CPU counts).  They are shown in
  reports but never judged, and they lower the "exact share" figure.
* `relative`: field paths whose absolute value depends on state the model
  cannot observe (which IRTE indices and irq numbers are free) but whose
  *relation* to other fields is certain.  Each names a symbol and an
  offset; the comparator binds the symbol at its first observation and
  holds every later use to it.  One symbol stands for one allocation (an
  IRTE block, an irq range), so the entries of a multi-MSI block and the
  constancy of a message across affinity moves are still judged strictly.

`within` bounds the per-CPU split of a step where timing decides it (fires
racing affinity writes): path -> the CPUs the deliveries may land on.  The
observed deliveries must all be on those CPUs and add up to the predicted
total; which of them got how many is not judged.

`alternatives` lists other outcomes the kernel may produce where timing
decides (a second affinity write inside the cleanup window); the observed
outcome must match the main outcome or one alternative on every judged field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hil.model.vocabulary import StepOutcome


@dataclass(frozen=True)
class Relative:
    """A value known only as `binding[symbol] + offset`."""

    symbol: str
    offset: int
    align: int = 1
    """The binding must be a multiple of this (an IRTE block's base is aligned)."""


@dataclass(frozen=True)
class Prediction:
    outcome: StepOutcome
    uncertain: frozenset[str] = frozenset()
    relative: Mapping[str, Relative] = field(default_factory=lambda: MappingProxyType({}))
    alternatives: tuple[StepOutcome, ...] = ()
    within: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[str, ...] = ()
    """Names of the model rules that produced this prediction (for the report)."""
