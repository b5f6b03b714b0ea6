"""Field-by-field comparison of a prediction with an observation.

Both sides are flattened into `path -> value` maps with the same paths, so
the verdict is a plain diff.  A field is judged only when the model predicted
it exactly (or relatively) and the lab observed it; everything else is listed
with the reason it was not judged, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from hil.model.prediction import Prediction, Relative
from hil.model.vocabulary import MsiMessage, StepOutcome

Value = object

_VIEW_FIELDS = (
    "allocated",
    "requested",
    "irq",
    "cpu",
    "vector",
    "affinity",
    "effective",
    "message",
    "masked",
)


def flatten(outcome: StepOutcome) -> dict[str, Value]:
    """The outcome as `path -> value`; None values mean "not known" and are kept."""
    flat: dict[str, Value] = {
        "errno": outcome.errno or "ok",
        "granted": outcome.granted,
        "lost": outcome.lost,
        "spurious": outcome.spurious,
        "trace": outcome.trace,
    }
    for view in outcome.vectors:
        for name in _VIEW_FIELDS:
            flat[f"{view.key}.{name}"] = getattr(view, name)
    for d in outcome.deliveries:
        key = f"{d.device}[{d.entry}]"
        flat[f"delivered.{key}.per_cpu"] = tuple(sorted((c, n) for c, n in d.per_cpu if n))
        flat[f"delivered.{key}.eventfd"] = d.eventfd
    return flat


class FieldStatus(StrEnum):
    MATCH = "match"
    WITHIN = "within bounds"
    MISMATCH = "MISMATCH"
    BOUND = "bound"
    UNCERTAIN = "uncertain"
    UNOBSERVED = "unobserved"
    UNPREDICTED = "unpredicted"
    QUIRK = "match (known emulator defect)"


DUPLICATED_MSI = "duplicated-msi"
"""QEMU 10.0 under TCG delivers every MSI twice at the local APIC (its own trace
shows two `apic_deliver_irq` per `msix_notify`, with and without interrupt
remapping); the kernel counts the copy when it arrives after the first was
handled and merges it when it arrives while the first is still pending.  On
such machines a delivery count may be up to twice the prediction, on exactly
the predicted CPUs; nothing else is relaxed, and real machines never carry
the quirk."""


@dataclass(frozen=True)
class FieldVerdict:
    path: str
    predicted: Value
    observed: Value
    status: FieldStatus


@dataclass
class Bindings:
    """Symbol values learned from observations, kept across a scenario's steps."""

    values: dict[str, int] = field(default_factory=dict)
    quirks: frozenset[str] = frozenset()
    """Known defects of the machine's platform (e.g. DUPLICATED_MSI)."""


@dataclass(frozen=True)
class StepVerdict:
    step: int
    action: str
    fields: tuple[FieldVerdict, ...]
    alternative: int | None = None
    """Index into `Prediction.alternatives` that matched, None for the main outcome."""

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def mismatches(self) -> tuple[FieldVerdict, ...]:
        return tuple(f for f in self.fields if f.status is FieldStatus.MISMATCH)

    @property
    def judged(self) -> int:
        judged = (
            FieldStatus.MATCH,
            FieldStatus.MISMATCH,
            FieldStatus.BOUND,
            FieldStatus.QUIRK,
            FieldStatus.WITHIN,
        )
        return sum(1 for f in self.fields if f.status in judged)


def _duplicated(path: str, predicted: Value, observed: Value) -> bool:
    """Observed is predicted with some deliveries doubled, nothing moved elsewhere."""
    if path.endswith(".eventfd") and isinstance(predicted, int) and isinstance(observed, int):
        return predicted <= observed <= 2 * predicted
    if path.endswith(".per_cpu") and isinstance(predicted, tuple) and isinstance(observed, tuple):
        want, got = dict(predicted), dict(observed)
        return set(want) == set(got) and all(want[c] <= got[c] <= 2 * want[c] for c in want)
    return False


def _judge_within(
    allowed: tuple[int, ...], predicted: Value, observed: Value, quirks: frozenset[str]
) -> tuple[FieldStatus, str]:
    """A per-CPU split timing decides: every delivery on an allowed CPU, counted at
    most once (up to doubled on a machine with the duplicated-MSI quirk).

    Counted at least once, not `want` times: an edge that reaches the irq's new CPU
    while its handler still runs on the old one is handled by that running handler
    without a count on either CPU (`handle_edge_irq`: `!irq_may_run` -> pending,
    replayed by the loop, `kstat_incr_irqs_this_cpu` not reached).  Only the first
    fire of a race cannot meet a running handler.  The eventfd, which counts the
    handler's runs, is still predicted exactly."""
    want = sum(n for _, n in predicted) if isinstance(predicted, tuple) else 0
    least = min(want, 1)
    shown = f"{least}..{want} on CPUs {','.join(map(str, allowed))}"
    if not isinstance(observed, tuple):
        return FieldStatus.MISMATCH, shown
    got = sum(n for _, n in observed)
    inside = all(cpu in allowed for cpu, n in observed if n)
    if inside and least <= got <= want:
        return FieldStatus.WITHIN, shown
    if inside and DUPLICATED_MSI in quirks and want <= got <= 2 * want:
        return FieldStatus.QUIRK, shown
    return FieldStatus.MISMATCH, shown


def _unexpected_delivery(path: str, observed: Value) -> bool:
    return path.startswith("delivered.") and path.endswith(".per_cpu") and bool(observed)


def _relative_value(observed: Value) -> int | None:
    """The integer a relative symbol binds to: ints, or the IRTE a message uses
    (its handle, plus the subhandle in the data for a multi-MSI block)."""
    if isinstance(observed, bool):
        return None
    if isinstance(observed, int):
        return observed
    if not isinstance(observed, MsiMessage):
        return None
    return observed.irte


def _judge_relative(
    rel: Relative, observed: Value, bindings: dict[str, int]
) -> tuple[FieldStatus, Value]:
    value = _relative_value(observed)
    if value is None:
        return FieldStatus.MISMATCH, f"{rel.symbol}+{rel.offset}"
    if rel.symbol not in bindings:
        base = value - rel.offset
        if base % rel.align:
            return FieldStatus.MISMATCH, f"{rel.symbol}+{rel.offset} ({rel.align}-aligned)"
        bindings[rel.symbol] = base
        return FieldStatus.BOUND, f"{rel.symbol}+{rel.offset}"
    expected = bindings[rel.symbol] + rel.offset
    shown = f"{rel.symbol}+{rel.offset}={expected:#x}"
    return (FieldStatus.MATCH if value == expected else FieldStatus.MISMATCH), shown


def _compare_one(
    predicted: StepOutcome,
    observed: Mapping[str, Value],
    uncertain: frozenset[str],
    relative: Mapping[str, Relative],
    bindings: dict[str, int],
    quirks: frozenset[str] = frozenset(),
    within: Mapping[str, tuple[int, ...]] | None = None,
) -> list[FieldVerdict]:
    pred = flatten(predicted)
    verdicts: list[FieldVerdict] = []
    for path in sorted(set(pred) | set(observed)):
        p = pred.get(path)
        o = observed.get(path)
        if path in relative and o is not None:
            status, shown = _judge_relative(relative[path], o, bindings)
            verdicts.append(FieldVerdict(path, shown, o, status))
            continue
        if within and path in within and o is not None:
            status, shown = _judge_within(within[path], p, o, quirks)
            verdicts.append(FieldVerdict(path, shown, o, status))
            continue
        if p is None:
            if _unexpected_delivery(path, o):
                # The model lists every vector a fire reaches: anything else went astray.
                verdicts.append(FieldVerdict(path, (), o, FieldStatus.MISMATCH))
            elif o is not None:
                # Vectors a step does not touch are shown, not judged.
                verdicts.append(FieldVerdict(path, None, o, FieldStatus.UNPREDICTED))
            continue
        if path in uncertain:
            verdicts.append(FieldVerdict(path, p, o, FieldStatus.UNCERTAIN))
        elif o is None:
            verdicts.append(FieldVerdict(path, p, None, FieldStatus.UNOBSERVED))
        else:
            status = FieldStatus.MATCH if p == o else FieldStatus.MISMATCH
            if (
                status is FieldStatus.MISMATCH
                and DUPLICATED_MSI in quirks
                and path.startswith("delivered.")
                and _duplicated(path, p, o)
            ):
                status = FieldStatus.QUIRK
            verdicts.append(FieldVerdict(path, p, o, status))
    return verdicts


def judge(prediction: Prediction, observed: StepOutcome, bindings: Bindings) -> StepVerdict:
    """Compare one step; relative symbols bound here persist in `bindings`."""
    obs = flatten(observed)
    candidates: Iterable[tuple[int | None, StepOutcome]] = [
        (None, prediction.outcome),
        *enumerate(prediction.alternatives),
    ]
    first: tuple[list[FieldVerdict], dict[str, int]] | None = None
    for which, outcome in candidates:
        trial = dict(bindings.values)
        fields = _compare_one(
            outcome,
            obs,
            prediction.uncertain,
            prediction.relative,
            trial,
            bindings.quirks,
            prediction.within,
        )
        if not any(f.status is FieldStatus.MISMATCH for f in fields):
            bindings.values = trial
            return StepVerdict(observed.step, observed.action, tuple(fields), which)
        if first is None:
            first = (fields, trial)
    assert first is not None
    bindings.values = first[1]
    return StepVerdict(observed.step, observed.action, tuple(first[0]), None)


def exact_share(predictions: Iterable[Prediction]) -> float:
    """Share of predicted observables that are exact (relative counts as exact; a split
    judged only within bounds does not)."""
    total = exact = 0
    for p in predictions:
        for path, value in flatten(p.outcome).items():
            if value is None:
                continue
            total += 1
            if path not in p.uncertain and path not in p.within:
                exact += 1
    return exact / total if total else 1.0
