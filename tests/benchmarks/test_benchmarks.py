"""The benchmark scenario and table: what the timed figures stand on."""

from __future__ import annotations

from collections import Counter

from benchmarks.figures import Figure, markdown_table
from benchmarks.lab import run_summary
from benchmarks.model_steps import DEVICES, big_calibration, mixed_steps
from hil.model.model import InterruptModel
from hil.model.steps import Affinity, CpuOffline, CpuOnline, Disable, Enable, Fire, Release, Request
from hil.model.vocabulary import IrType


def test_the_model_mix_has_every_step_kind_and_mostly_succeeds() -> None:
    steps = mixed_steps(1024, 3000)
    assert len(steps) == 3000 and steps == mixed_steps(1024, 3000)  # fixed by its seed
    kinds = Counter(type(s) for s in steps)
    for kind in (Enable, Fire, Affinity, Release, Request, CpuOffline, CpuOnline, Disable):
        assert kinds[kind] > 0, kind
    model = InterruptModel(big_calibration(1024, IrType.INTEL), DEVICES)
    errnos = Counter(model.apply(step).outcome.errno for step in steps)
    # A mix of refused steps would time the error paths, not the work.
    assert errnos[None] > 0.9 * len(steps), errnos


def test_most_fires_in_the_mix_are_delivered_once() -> None:
    model = InterruptModel(big_calibration(1024, IrType.NONE), DEVICES)
    fires = delivered = 0
    for step in mixed_steps(1024, 2000):
        outcome = model.apply(step).outcome
        if isinstance(step, Fire):
            fires += 1
            totals = [d.total for d in outcome.deliveries if d.entry == step.entry]
            assert totals in ([0], [1]), (step, outcome)  # a released vector latches
            delivered += totals == [1]
    assert delivered > 0.5 * fires


def test_table_marks_missed_targets() -> None:
    table = markdown_table(
        [
            Figure("3", "parse", "40 ms", "<= 50 ms", True),
            Figure("4", "model", "2 s", "<= 1 s", False, note="1024 CPUs"),
            Figure("5", "suite", "not run"),
        ]
    )
    lines = table.splitlines()
    assert lines[2] == "| 3 | parse | 40 ms | <= 50 ms | yes |"
    assert lines[3] == "| 4 | model (1024 CPUs) | 2 s | <= 1 s | **no** |"
    assert lines[4] == "| 5 | suite | not run |  |  |"


def test_a_suite_run_is_summed_up_by_its_timing_lines_and_pytests_last_line() -> None:
    output = (
        "....\n== pcie-hil run ==\n"
        "first verdict: 20.5 s after start (tests/hil/x.yaml::a[vm/igb0])\n"
        "time per test, boot excluded: 6.16 s (34 tests with a verdict, 209.4 s in tests)\n"
        "=========== 34 passed, 5 skipped in 118.42s (0:01:58) ===========\n"
    )
    assert run_summary(output) == (
        "first verdict: 20.5 s after start; time per test, boot excluded: 6.16 s; "
        "34 passed, 5 skipped in 118.42s (0:01:58)"
    )
