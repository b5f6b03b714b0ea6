"""`hil predict`: what the model says a scenario will do, before any machine runs it.

A scenario author needs to see the model's answer (and how sure it is)
while writing the file; a reviewer of a mismatch needs the prediction
without re-running the lab.  Every value is marked exact, uncertain (shown
with `?`, never judged) or relative (`irte+3`: known only relative to the
first observed value), and the run ends with the share of observables
predicted exactly, the figure a calibration improves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from hil.cli.output import console, reports_errors
from hil.lab.inventory import DEFAULT_PROFILES_FOLDER
from hil.model.model import InterruptModel
from hil.model.prediction import Prediction
from hil.model.verdict import exact_share
from hil.model.vocabulary import IrType, MsiMessage, StepOutcome, VectorView
from hil.scenario.loader import load_scenario
from hil.scenario.offline import offline_machine

LEGEND = "value? = uncertain (not judged)   sym+n = relative to the first observed value"
VIEW_COLUMNS = ("irq", "cpu", "vector", "effective", "affinity", "message", "masked")


@dataclass(frozen=True)
class Shown:
    """One predicted value as the user sees it: its value and how sure the model is."""

    value: object
    status: str
    """exact, uncertain, relative or within (a per-CPU split bounded to some CPUs)."""
    relative: str | None = None
    within: tuple[int, ...] | None = None

    def text(self, ir: IrType) -> str:
        if self.relative is not None:
            return self.relative
        if self.value is None:
            return "-"
        mark = "?" if self.status == "uncertain" else ""
        return f"{_plain_text(self.value, ir)}{mark}"


def _plain_text(value: object, ir: IrType) -> str:
    if isinstance(value, MsiMessage):
        return f"{value} ({message_format(value, ir)})"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _landing_text(per_cpu: object) -> str:
    """`CPU3 +1`: the counters of /proc/interrupts that must rise."""
    if not isinstance(per_cpu, tuple) or not per_cpu:
        return "no CPU counter rises"
    return ", ".join(f"CPU{cpu} +{count}" for cpu, count in per_cpu)


def message_format(message: MsiMessage, ir: IrType) -> str:
    """Which format a message is in and what it names: the IRTE, or the CPU and vector."""
    if message.is_zero:
        return "zero"
    if ir is IrType.INTEL and message.is_remappable:
        return f"remappable, IRTE {message.irte_index}"
    if ir is IrType.AMD:
        return f"AMD IR, IRTE {message.data}"
    mode = "logical" if message.logical else "physical"
    return f"compat {mode}, dest {message.destination:#x}, vector {message.vector:#x}"


def shown(path: str, value: object, prediction: Prediction) -> Shown:
    rel = prediction.relative.get(path)
    if rel is not None:
        return Shown(value, "relative", f"{rel.symbol}+{rel.offset}")
    bound = prediction.within.get(path)
    if bound is not None:
        return Shown(value, "within", within=bound)
    return Shown(value, "uncertain" if path in prediction.uncertain else "exact")


@dataclass(frozen=True)
class StepView:
    """One step's prediction (or one of its timing alternatives), every value marked."""

    number: int
    action: str
    result: str
    vectors: tuple[tuple[VectorView, dict[str, Shown]], ...]
    deliveries: tuple[tuple[str, Shown, Shown], ...]
    counters: dict[str, Shown]
    notes: tuple[str, ...]


def step_view(number: int, outcome: StepOutcome, prediction: Prediction) -> StepView:
    if outcome.errno:
        result = outcome.errno
    elif outcome.granted is not None:
        result = f"granted {outcome.granted}"
    else:
        result = "ok"
    vectors = tuple(
        (
            view,
            {
                name: shown(f"{view.key}.{name}", getattr(view, name), prediction)
                for name in VIEW_COLUMNS
            },
        )
        for view in outcome.vectors
    )
    deliveries = tuple(
        (
            f"{d.device}[{d.entry}]",
            shown(
                f"delivered.{d.device}[{d.entry}].per_cpu",
                tuple((c, n) for c, n in d.per_cpu if n),
                prediction,
            ),
            shown(f"delivered.{d.device}[{d.entry}].eventfd", d.eventfd, prediction),
        )
        for d in outcome.deliveries
    )
    counters = {
        name: shown(name, getattr(outcome, name), prediction)
        for name in ("lost", "spurious")
        if getattr(outcome, name) is not None
    }
    return StepView(number, outcome.action, result, vectors, deliveries, counters, outcome.notes)


def predict_scenario(path: Path, profiles: Path) -> tuple[list[Prediction], IrType]:
    """Predict every step from the scenario file's own machine block."""
    scenario = load_scenario(path)
    machine = offline_machine(scenario, profiles)
    model = InterruptModel(machine.calibration, machine.devices)
    # Numbered from 1, like the step tables of lab runs and evidence bundles.
    predictions = [model.apply(step, n) for n, step in enumerate(scenario.steps, start=1)]
    return predictions, machine.calibration.ir


@click.command("predict")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Human table or machine-readable JSON.",
)
@click.option(
    "--profiles",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_PROFILES_FOLDER,
    show_default=True,
    help="Folder of the device profiles the scenario's devices name.",
)
@reports_errors
def predict(scenario: Path, fmt: str, profiles: Path) -> None:
    """Predict SCENARIO.yaml step by step from its machine block, with no machine."""
    predictions, ir = predict_scenario(scenario, profiles)
    share = exact_share(predictions)
    if fmt == "json":
        click.echo(json.dumps(_as_json(predictions, ir, share), indent=2))
        return
    out = console()
    out.print(LEGEND, markup=False, highlight=False)
    for p in predictions:
        _print_step(out, step_view(p.outcome.step, p.outcome, p), ir, "")
        for i, alt in enumerate(p.alternatives, start=1):
            label = f"  timing alternative {i} (the kernel may do this instead)"
            _print_step(out, step_view(alt.step, alt, p), ir, label)
    out.print(f"exact: {share:.1%} of the predicted observables", highlight=False)


def _print_step(out: Any, view: StepView, ir: IrType, label: str) -> None:
    title = f"{label or f'step {view.number}'}: {view.action}: {view.result}"
    out.print(title, markup=False, highlight=False)
    if view.vectors:
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("vector")
        table.add_column("state")
        for name in VIEW_COLUMNS:
            table.add_column(name)
        for vv, values in view.vectors:
            state = "requested" if vv.requested else "allocated" if vv.allocated else "freed"
            table.add_row(vv.key, state, *(values[n].text(ir) for n in VIEW_COLUMNS))
        out.print(table)
    for key, per_cpu, eventfd in view.deliveries:
        mark = "?" if per_cpu.status == "uncertain" else ""
        landing = _landing_text(per_cpu.value) + mark
        if per_cpu.within is not None:
            total = sum(n for _, n in per_cpu.value) if isinstance(per_cpu.value, tuple) else 0
            cpus = ",".join(map(str, per_cpu.within))
            landing = f"{total} on CPUs {cpus}, split decided by timing"
        out.print(
            f"  fire {key}: {landing}; eventfd {eventfd.text(ir)}",
            markup=False,
            highlight=False,
        )
    if view.counters:
        counters = ", ".join(f"{k} {v.text(ir)}" for k, v in view.counters.items())
        out.print(f"  {counters}", markup=False, highlight=False)
    for note in view.notes:
        out.print(f"  note: {note}", markup=False, highlight=False)


def _json_value(value: object, ir: IrType) -> object:
    if isinstance(value, MsiMessage):
        return {
            "address": f"{value.address:#x}",
            "data": f"{value.data:#x}",
            "format": message_format(value, ir),
        }
    if isinstance(value, tuple):
        return [_json_value(v, ir) for v in value]
    return value


def _json_shown(item: Shown, ir: IrType) -> dict[str, object]:
    out: dict[str, object] = {"value": _json_value(item.value, ir), "status": item.status}
    if item.relative is not None:
        out["relative"] = item.relative
    if item.within is not None:
        out["within"] = list(item.within)
    return out


def _json_step(view: StepView, ir: IrType) -> dict[str, Any]:
    return {
        "step": view.number,
        "action": view.action,
        "result": view.result,
        "vectors": [
            {
                "key": vv.key,
                "allocated": vv.allocated,
                "requested": vv.requested,
                **{name: _json_shown(values[name], ir) for name in VIEW_COLUMNS},
            }
            for vv, values in view.vectors
        ],
        "deliveries": [
            {"vector": key, "per_cpu": _json_shown(per_cpu, ir), "eventfd": _json_shown(fd, ir)}
            for key, per_cpu, fd in view.deliveries
        ],
        **{name: _json_shown(value, ir) for name, value in view.counters.items()},
        "notes": list(view.notes),
    }


def _as_json(predictions: list[Prediction], ir: IrType, share: float) -> dict[str, Any]:
    steps = []
    for p in predictions:
        body = _json_step(step_view(p.outcome.step, p.outcome, p), ir)
        body["rules"] = list(p.rules)
        body["alternatives"] = [
            _json_step(step_view(alt.step, alt, p), ir) for alt in p.alternatives
        ]
        steps.append(body)
    return {"ir": ir.value, "steps": steps, "exact_share": share}
