"""The trace events the Observer consumes between steps: they belong to no step,
but the vectors they set are learnt, as a step's own events' are."""

from __future__ import annotations

from pathlib import Path

from hil.lab.observe import Observer
from hil.linux.tracefs import parse_trace


class Pipe:
    """A trace instance whose pipe holds `text` once."""

    def __init__(self, text: str) -> None:
        self.text = text

    def drain_text(self) -> str:
        text, self.text = self.text, ""
        return text


FIXTURE = Path(__file__).parents[1] / "linux/fixtures/trace_6.12_e1000e-msix_IR-on.txt"


def test_events_between_steps_are_consumed_and_teach_the_vectors_they_set(root: Path) -> None:
    text = FIXTURE.read_text()
    observer = Observer(root, "s")
    observer.trace = Pipe(text)  # type: ignore[assignment]
    observer.snapshot([])
    expected: dict[int, int] = {}
    for event in parse_trace(text).events:  # the last vector_config/update of each irq
        if event.event in ("vector_config", "vector_update"):
            expected[event.fields["irq"]] = event.fields["vector"]
    assert expected and observer.vectors == expected
    assert observer.trace.drain_text() == ""  # consumed
