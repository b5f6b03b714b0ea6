"""Load a scenario file into model steps; every mistake comes back as file:line:field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from hil.lab.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, pydantic_issues
from hil.model import steps as S
from hil.model.vocabulary import IrqIndex
from hil.scenario.schema import (
    STEP_KINDS,
    AffinityStep,
    DeviceStep,
    EnableStep,
    FireStep,
    FireWhileMovingStep,
    ScenarioFile,
    VectorStep,
)


@dataclass(frozen=True)
class Scenario:
    path: str
    spec: ScenarioFile
    steps: tuple[S.Step, ...]

    @property
    def name(self) -> str:
        return self.spec.name


def _to_step(kind: str, value: object) -> S.Step:
    match kind, value:
        case "enable", EnableStep() as e:
            return S.Enable(e.device, IrqIndex(e.index), e.count, tuple(e.unrequested))
        case "request", VectorStep() as v:
            return S.Request(v.device, v.vector)
        case "release", VectorStep() as v:
            return S.Release(v.device, v.vector)
        case "fire", FireStep() as f:
            return S.Fire(f.device, f.vector, f.times)
        case "fire_while_moving", FireWhileMovingStep() as w:
            return S.FireWhileMoving(w.device, w.vector, w.fires, tuple(w.masks))
        case "store", VectorStep() as v:
            return S.Store(v.device, v.vector)
        case "affinity", AffinityStep() as a:
            return S.Affinity(a.device, a.vector, a.cpus)
        case "fire_stored", DeviceStep() as d:
            return S.FireStored(d.device)
        case "disable", DeviceStep() as d:
            return S.Disable(d.device)
        case "cpu_offline", int() as cpu:
            return S.CpuOffline(cpu)
        case "cpu_online", int() as cpu:
            return S.CpuOnline(cpu)
    raise AssertionError(f"unhandled step kind {kind}")


def _parse_steps(loaded: LoadedYaml, spec: ScenarioFile) -> tuple[list[S.Step], list[ConfigIssue]]:
    steps: list[S.Step] = []
    issues: list[ConfigIssue] = []
    valid = ", ".join(STEP_KINDS)
    for i, raw in enumerate(spec.steps):
        loc: list[str | int] = ["steps", i]
        if not isinstance(raw, dict) or len(raw) != 1:
            issues.append(loaded.issue(loc, f"a step is one key, one of: {valid}"))
            continue
        ((kind, body),) = raw.items()
        model = STEP_KINDS.get(kind)
        if model is None:
            issues.append(loaded.issue(loc, f"unknown step {kind!r}; valid steps: {valid}"))
            continue
        if model is int:
            if not isinstance(body, int) or isinstance(body, bool) or body < 0:
                issues.append(
                    loaded.issue([*loc, kind], "expected a CPU number, e.g. `cpu_offline: 2`")
                )
                continue
            steps.append(_to_step(kind, body))
            continue
        assert issubclass(model, BaseModel)
        try:
            parsed = model.model_validate(dict(body) if isinstance(body, dict) else body)
        except ValidationError as exc:
            issues.extend(pydantic_issues(loaded, exc, [*loc, kind]).issues)
            continue
        device = getattr(parsed, "device", None)
        if device is not None and device not in spec.devices:
            issues.append(
                loaded.issue(
                    [*loc, kind, "device"],
                    f"unknown device {device!r}; the scenario declares {sorted(spec.devices)}",
                )
            )
            continue
        steps.append(_to_step(kind, parsed))
    return steps, issues


def load_scenario(path: str | Path) -> Scenario:
    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError(
            [loaded.issue([], "a scenario is a mapping with name, devices and steps")]
        )
    try:
        spec = ScenarioFile.model_validate(_plain(loaded.data))
    except ValidationError as exc:
        raise pydantic_issues(loaded, exc) from None
    steps, issues = _parse_steps(loaded, spec)
    if issues:
        raise ConfigError(issues)
    return Scenario(str(path), spec, tuple(steps))


def _plain(data: object) -> object:
    """ruamel's commented containers as plain dicts and lists for pydantic."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data
