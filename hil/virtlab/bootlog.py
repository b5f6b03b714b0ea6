"""What a guest's serial boot log says about a boot that will not finish.

A panic ends a boot at any time.  A lost-timer hang ends only a boot that has
not greeted yet: under TCG on a loaded host a guest kernel sometimes loses a
timer interrupt early and stalls for good after "kthread timer wakeup didn't
happen" (seen on the 6.1 kernel at 2026-12-02 21:34, right after "mounting
hostfs"; no boot that reached its greeting ever logged it), so waiting out the
whole boot deadline for it only delays the retry.  After the greeting the line
may be a passing stall of a slow guest, and the agent's own silence decides.
"""

from __future__ import annotations

PANIC_MARKERS = ("Kernel panic - not syncing", "end Kernel panic")
HANG_MARKERS = ("kthread timer wakeup didn't happen",)
STALL_MARKERS = (*HANG_MARKERS, "detected stalls on CPUs/tasks", "blocked for more than")
"""What a guest kernel prints while it is stuck: RCU repeats its report every
minute or so and the hung-task watchdog every two, so the last such line of a
log's tail belongs to the stall going on now (vm-612-noir at 2026-12-03 08:00:
a lost timer on CPU 2 mid-run left the agent blocked in D state for good)."""


def panic_in(log_tail: str) -> bool:
    return any(marker in log_tail for marker in PANIC_MARKERS)


def boot_hang_in(log_tail: str) -> bool:
    return any(marker in log_tail for marker in HANG_MARKERS)


def last_stall(log_tail: str) -> str | None:
    """The newest stall report in the tail, stripped, or None."""
    for line in reversed(log_tail.splitlines()):
        if any(marker in line for marker in STALL_MARKERS):
            return line.strip()
    return None
