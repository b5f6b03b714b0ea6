"""Line numbers of user-written YAML must be the lines a reader counts."""

from __future__ import annotations

import pytest

from hil.lab.configfile import ConfigError, parse_yaml


@pytest.mark.parametrize("odd", ["\x85", "\u2028", "\x0c"])
def test_a_line_break_only_some_readers_count_is_refused_with_its_line(odd: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(f"lab: t\nmachines: '{odd}'\n", "lab.yaml")
    (issue,) = caught.value.issues
    assert issue.line == 2
    assert f"U+{ord(odd):04X}" in issue.message and "replace it with a newline" in issue.message


def test_ordinary_text_loads() -> None:
    assert parse_yaml("lab: t\r\nmachines: []\n", "lab.yaml").data == {"lab": "t", "machines": []}
