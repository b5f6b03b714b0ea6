"""The boot log's verdicts: a panic at any time, a lost-timer hang only while booting."""

from hil.virtlab.bootlog import boot_hang_in, last_stall, panic_in

HUNG_61_BOOT = """\
[   41.802311] virtme-ng-init: mounting hostfs
[   63.190554] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[   63.201207] rcu: rcu_preempt kthread timer wakeup didn't happen for 21002 jiffies! g1193 f0x0
"""

GREETED_BOOT = """\
[   41.802311] virtme-ng-init: mounting hostfs
[   88.004120] virtme-ng-init: starting hil agent
"""


def test_lost_timer_line_is_a_boot_hang() -> None:
    assert boot_hang_in(HUNG_61_BOOT)
    assert not panic_in(HUNG_61_BOOT)


def test_a_normal_boot_is_neither() -> None:
    assert not boot_hang_in(GREETED_BOOT)
    assert not panic_in(GREETED_BOOT)


def test_panic_is_seen() -> None:
    log = GREETED_BOOT + "[  99.1] Kernel panic - not syncing: Attempted to kill init!\n"
    assert panic_in(log)


def test_the_newest_stall_line_is_the_one_reported() -> None:
    log = (
        HUNG_61_BOOT
        + "[3628.908152] INFO: task python:305 blocked for more than 365 seconds.\n"
        + "[3628.909071]  </TASK>\n"
    )
    assert (
        last_stall(log) == "[3628.908152] INFO: task python:305 blocked for more than 365 seconds."
    )
    assert last_stall(GREETED_BOOT) is None
