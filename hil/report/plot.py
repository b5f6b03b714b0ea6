"""A small PNG of per-CPU delivery over a scenario's steps, predicted against observed.

For CPU hot-unplug and affinity-under-load scenarios the question is "did
the interrupts follow the CPUs the model said, step after step"; a table
answers it one step at a time, a plot of cumulative deliveries per CPU
answers it at a glance, and shows where the two sides part.  Drawn with
matplotlib's Agg canvas directly (no pyplot), so it keeps no global state
and works without a display.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from hil.model.steps import (
    Affinity,
    CpuOffline,
    CpuOnline,
    Fire,
    FireStored,
    FireWhileMoving,
    describe,
)
from hil.model.vocabulary import Delivery
from hil.scenario.runner import RunResult

MIN_FIRES_WITH_AFFINITY = 2


def _per_cpu(deliveries: Iterable[Delivery]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for d in deliveries:
        for cpu, n in d.per_cpu:
            counts[cpu] = counts.get(cpu, 0) + n
    return counts


def wants_delivery_plot(result: RunResult) -> bool:
    """CPU hotplug, affinity moves with several fires, or fires racing moves, and some
    delivery to draw."""
    steps = [r.step for r in result.records]
    fires = sum(isinstance(s, Fire | FireStored) for s in steps)
    moves = any(isinstance(s, CpuOffline | FireWhileMoving) for s in steps) or (
        any(isinstance(s, Affinity) for s in steps) and fires >= MIN_FIRES_WITH_AFFINITY
    )
    delivered = any(
        r.prediction.outcome.deliveries or r.observed.deliveries for r in result.records
    )
    return moves and delivered


def _cumulative(per_step: list[dict[int, int]], cpu: int) -> list[int]:
    total, out = 0, [0]
    for counts in per_step:
        total += counts.get(cpu, 0)
        out.append(total)
    return out


def delivery_plot(result: RunResult) -> bytes:
    """Cumulative deliveries per CPU after each step: predicted solid, observed dashed."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    predicted = [_per_cpu(r.prediction.outcome.deliveries) for r in result.records]
    observed = [_per_cpu(r.observed.deliveries) for r in result.records]
    # Only CPUs something was delivered to, on either side: flat zero lines hide the rest.
    cpus = sorted({cpu for counts in predicted + observed for cpu, n in counts.items() if n})
    steps = [0] + [r.number for r in result.records]

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    for i, cpu in enumerate(cpus):
        colour = f"C{i % 10}"
        ax.plot(
            steps, _cumulative(predicted, cpu), color=colour, drawstyle="steps-post",
            linewidth=2.5, alpha=0.5, label=f"cpu{cpu} predicted",
        )  # fmt: skip
        ax.plot(
            steps, _cumulative(observed, cpu), color=colour, drawstyle="steps-post",
            linestyle="--", marker="o", markersize=3, label=f"cpu{cpu} observed",
        )  # fmt: skip
    for r in result.records:
        if isinstance(r.step, CpuOffline | CpuOnline | Affinity):
            ax.axvline(r.number, color="0.75", linestyle=":", linewidth=1)
            ax.annotate(
                describe(r.step), (r.number, 0.98), xycoords=("data", "axes fraction"),
                rotation=90, fontsize=6, va="top", ha="right", color="0.35",
            )  # fmt: skip
        if any(f.path.startswith("delivered.") for f in r.verdict.mismatches):
            ax.plot(
                [r.number], [0], marker="x", color="red", markersize=9, linestyle="none",
                clip_on=False, label=f"step {r.number}: delivery mismatch",
            )  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("delivered (cumulative)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{result.scenario} on {result.machine}: predicted vs observed", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
