import pytest

from hil.linux.tracefs import VECTOR_EVENTS, Tracefs, TracefsError, VectorEvent, parse_trace


@pytest.mark.parametrize(
    "name", ["trace_6.12_e1000e-msix_IR-on.txt", "trace_6.12_e1000e-msix_IR-off.txt"]
)
def test_real_trace_reservation_then_activation(fixture_text, name):
    log = parse_trace(fixture_text(name))
    assert len(log.events) == 41 and log.skipped == () and log.lost_events == 0
    first = log.events[0]
    assert first.event == "vector_reserve" and first.fields == {"irq": 41, "ret": 0}
    assert first.cpu == 1 and first.task == "python3"
    # Reservation mode: every irq first parks on the placeholder vector 239 (0xef) of CPU 0 ...
    configs = [e for e in log.events if e.event == "vector_config"]
    assert {(e.fields["vector"], e.fields["cpu"]) for e in configs[:10]} == {(239, 0)}
    # ... and the requested ones get real vectors at activation, spread over CPUs 3, 0, 1, 2.
    updates = [
        (e.irq, e.fields["vector"], e.fields["cpu"])
        for e in log.events
        if e.event == "vector_update"
    ]
    assert updates == [(41, 37, 3), (42, 37, 0), (43, 38, 1), (44, 38, 2)]
    # irq 45 was allocated but never requested: it stays reserved
    assert [e.event for e in log.for_irq(45)] == [
        "vector_reserve",
        "vector_config",
        "vector_setup",
        "vector_activate",
        "vector_config",
    ]


def test_hex_apicdest_and_activate_fields(fixture_text):
    log = parse_trace(fixture_text("trace_6.12_e1000e-msix_IR-off.txt"))
    last = log.events[-1]
    assert last == VectorEvent(
        timestamp=8.227333,
        event="vector_config",
        fields={"irq": 44, "vector": 38, "cpu": 2, "apicdest": 2},
    )
    activate = [e for e in log.events if e.event == "vector_activate"][-1]
    assert activate.fields == {"irq": 44, "is_managed": 0, "can_reserve": 1, "reserve": 0}


def test_header_comments_lost_events_other_events_and_garbage():
    text = (
        "# tracer: nop\n"
        "#\n"
        "CPU:2 [LOST 17 EVENTS]\n"
        "  kworker/0:1-12  [000] ....  1.5: vector_clear: irq=9 vector=33 cpu=0 prev_vector=0"
        " prev_cpu=0\n"
        "  <idle>-0  [003] d.h1.  2.25: irq_matrix_alloc: bit=34 cpu=3 online=1 avl=199 alloc=2"
        " managed=0 online_maps=4 global_avl=800 global_rsvd=5 total_alloc=9\n"
        "  bash-1  [000] .....  3.0: sched_switch: prev_comm=bash\n"
        "half a line\n"
    )
    log = parse_trace(text)
    assert log.lost_events == 17
    assert [e.event for e in log.events] == ["vector_clear", "irq_matrix_alloc"]
    assert log.events[0].fields["vector"] == 33 and log.events[0].task == "kworker/0:1"
    assert log.events[1].fields["global_rsvd"] == 5
    assert log.skipped == ("half a line",)


def make_tracing(root, put, with_matrix=True):
    tracing = root / "sys/kernel/tracing"
    put(tracing / "events/irq_vectors/enable", "0\n")
    if with_matrix:
        put(tracing / "events/irq_matrix/enable", "0\n")
    return tracing


NOISY_EVENTS = ("local_timer_entry", "local_timer_exit", "reschedule_entry", "call_function_entry")


def fill_instance_like_the_kernel(instance, put, with_matrix):
    """What tracefs creates on mkdir of an instance."""
    put(instance / "events/irq_vectors/enable", "0\n")
    for event in (*VECTOR_EVENTS, *NOISY_EVENTS):
        put(instance / "events/irq_vectors" / event / "enable", "0\n")
    if with_matrix:
        put(instance / "events/irq_matrix/enable", "0\n")
    put(instance / "tracing_on", "1\n")
    put(instance / "trace", "# tracer: nop\n")


def test_instance_lifecycle(tmp_path, put, fixture_text):
    tracing = make_tracing(tmp_path, put)
    (tracing / "instances").mkdir()
    tr = Tracefs(tmp_path, "hil-session-1")
    assert tr.available()
    tr.create()
    fill_instance_like_the_kernel(tr.dir, put, with_matrix=True)
    tr.enable()
    for event in VECTOR_EVENTS:
        assert (tr.dir / "events/irq_vectors" / event / "enable").read_text() == "1\n"
    for event in NOISY_EVENTS:  # a tick or an IPI is no vector change
        assert (tr.dir / "events/irq_vectors" / event / "enable").read_text() == "0\n"
    assert (tr.dir / "events/irq_matrix/enable").read_text() == "0\n"  # names no irq
    assert (tracing / "events/irq_vectors/enable").read_text() == "0\n"  # global untouched
    (tr.dir / "trace_pipe").write_text(fixture_text("trace_6.12_e1000e-msix_IR-on.txt"))
    assert len(tr.drain().events) == 41
    (tr.dir / "trace").write_text("old events\n")
    tr.clear()
    assert (tr.dir / "trace").read_text() == ""
    tr.disable()
    for event in VECTOR_EVENTS:
        assert (tr.dir / "events/irq_vectors" / event / "enable").read_text() == "0\n"
    for f in sorted(tr.dir.rglob("*"), reverse=True):  # the kernel empties it on rmdir
        f.rmdir() if f.is_dir() else f.unlink()
    tr.remove()
    assert not tr.dir.exists()


def test_without_irq_matrix_only_irq_vectors_is_enabled(tmp_path, put):
    make_tracing(tmp_path, put, with_matrix=False)
    tr = Tracefs(tmp_path)
    fill_instance_like_the_kernel(tr.dir, put, with_matrix=False)
    tr.enable()
    assert (tr.dir / "events/irq_vectors/vector_update/enable").read_text() == "1\n"
    assert not (tr.dir / "events/irq_matrix").exists()


def test_a_kernel_without_vector_events_is_told_not_traced(tmp_path, put):
    make_tracing(tmp_path, put, with_matrix=False)
    tr = Tracefs(tmp_path)
    put(tr.dir / "events/irq_vectors/local_timer_entry/enable", "0\n")
    with pytest.raises(TracefsError, match=r"no vector events in .*irq_vectors"):
        tr.enable()


def test_not_available_without_tracefs(tmp_path):
    assert not Tracefs(tmp_path).available()
    with pytest.raises(TracefsError, match="cannot create trace instance"):
        Tracefs(tmp_path, "x").create()


def test_debugfs_tracing_location_is_found(tmp_path, put):
    put(tmp_path / "sys/kernel/debug/tracing/events/irq_vectors/enable", "0\n")
    assert Tracefs(tmp_path).available()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "x" * 65])
def test_instance_names_cannot_leave_the_instances_folder(name):
    with pytest.raises(ValueError, match="bad trace instance name"):
        Tracefs(instance=name)


def test_drain_hands_over_each_event_once(tmp_path, put, fixture_text):
    """`trace_pipe` consumes what it returns: a regular file read from a kept offset acts alike."""
    tracing = make_tracing(tmp_path, put)
    tr = Tracefs(tmp_path)
    text = fixture_text("trace_6.12_e1000e-msix_IR-on.txt")
    put(tracing / "trace_pipe", text)
    assert len(tr.drain().events) == 41
    assert tr.drain().events == ()
    with open(tracing / "trace_pipe", "a") as pipe:
        pipe.write(text)
    assert len(tr.drain().events) == 41
    tr.remove()
    assert tr._pipe is None
