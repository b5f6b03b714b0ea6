"""How long a lab run took to say something, and what a test costs once machines are up.

Booting a virtual machine takes tens of seconds and happens once per
machine, so a raw per-test average mostly measures boots; excluding them
gives the figure that grows with the suite.  Boot may happen in a test's
setup (the `machine` fixture) or in its call (a scenario item reaches its
machine itself), so a test's time is all its phases, and the boots are
subtracted as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_VERDICT = "first verdict:"
PER_TEST = "time per test, boot excluded:"
"""The heads of the two timing lines, which benchmark 5 reads back from a suite's output."""


@dataclass
class RunTiming:
    started: float
    """Wall clock (time.time()) at session start."""
    first_verdict: float | None = None
    first_verdict_test: str = ""
    test_seconds: dict[str, float] = field(default_factory=dict)
    """Per test id: setup + call + teardown durations."""
    verdicts: set[str] = field(default_factory=set)
    """Tests that passed or failed (skips are not verdicts)."""
    boot_seconds: dict[str, float] = field(default_factory=dict)
    """Per machine booted by this run."""

    def add_phase(self, nodeid: str, seconds: float) -> None:
        self.test_seconds[nodeid] = self.test_seconds.get(nodeid, 0.0) + seconds

    def add_verdict(self, nodeid: str, at: float) -> None:
        self.verdicts.add(nodeid)
        if self.first_verdict is None:
            self.first_verdict = at
            self.first_verdict_test = nodeid

    def per_test_without_boot(self) -> float | None:
        if not self.verdicts:
            return None
        total = sum(self.test_seconds.values()) - sum(self.boot_seconds.values())
        return max(total, 0.0) / len(self.verdicts)

    def lines(self) -> list[str]:
        if self.first_verdict is None:
            return [f"{FIRST_VERDICT} none (no test passed or failed)"]
        boot = sum(self.boot_seconds.values())
        per_test = self.per_test_without_boot()
        assert per_test is not None
        return [
            f"{FIRST_VERDICT} {self.first_verdict - self.started:.1f} s after start "
            f"({self.first_verdict_test})",
            f"{PER_TEST} {per_test:.2f} s "
            f"({len(self.verdicts)} tests with a verdict, "
            f"{sum(self.test_seconds.values()):.1f} s in tests, "
            f"{boot:.1f} s of it booting {len(self.boot_seconds)} machines)",
            *self.boot_lines(),
        ]

    def boot_lines(self) -> list[str]:
        if not self.boot_seconds:
            return []
        each = ", ".join(f"{name} {s:.1f} s" for name, s in sorted(self.boot_seconds.items()))
        return [f"boot time per machine: {each}"]
