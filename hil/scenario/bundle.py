"""Evidence bundles: everything a run saw, so a later model can judge it again.

A bundle holds the calibration, the devices' capabilities, the steps and
what the machine did at each step, plus the predictions and verdicts of
the model that ran then.  `hil rejudge` replays the steps into today's
model and judges the stored observations, so nightly captures from real
hardware become the model's regression corpus.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

from hil.model.calibration import Calibration
from hil.model.codec import decode, encode
from hil.model.model import DeviceCaps
from hil.model.steps import Step
from hil.model.vocabulary import StepOutcome
from hil.scenario.runner import RunResult, judge_steps, judging_model

FORMAT = 1


class BundleError(RuntimeError):
    pass


def write_bundle(result: RunResult, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{result.machine}--{result.scenario}")
    path = folder / f"{safe}--{stamp}.json"
    body = {
        "format": FORMAT,
        "scenario": result.scenario,
        "machine": result.machine,
        "calibration": result.calibration.to_dict(),
        "calibration_digest": result.calibration.digest(),
        "devices": {k: dataclasses.asdict(v) for k, v in result.devices.items()},
        "steps": [
            {
                "step": encode(r.step),
                "observed": encode(r.observed),
                "predicted": encode(r.prediction.outcome),
                "uncertain": sorted(r.prediction.uncertain),
                "within": {k: list(v) for k, v in sorted(r.prediction.within.items())},
                "mismatches": [f.path for f in r.verdict.mismatches],
            }
            for r in result.records
        ],
        "quirks": sorted(result.quirks),
        "ok": result.ok,
        **(extra or {}),
    }
    path.write_text(json.dumps(body, indent=1))
    return path


def rejudge(path: Path) -> RunResult:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a readable evidence bundle: {exc}") from None
    if body.get("format") != FORMAT:
        raise BundleError(f"{path}: bundle format {body.get('format')!r}, expected {FORMAT}")
    calibration = Calibration.from_dict(body["calibration"])
    devices = {k: DeviceCaps(**v) for k, v in body["devices"].items()}
    steps: list[Step] = [decode(s["step"]) for s in body["steps"]]
    observed: list[StepOutcome] = [decode(s["observed"]) for s in body["steps"]]
    quirks = frozenset(body.get("quirks", ()))
    result = RunResult(body["scenario"], body["machine"], calibration, devices, quirks=quirks)
    result.records = judge_steps(
        judging_model(calibration, devices),
        steps,
        lambda n, _s: observed[n - 1],
        quirks=quirks,
    )
    return result
