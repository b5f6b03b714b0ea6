"""The agent's open-file limit: one eventfd per requested vector must fit."""

from __future__ import annotations

import resource

import pytest

from hil.lab import agent


def test_the_soft_limit_rises_to_what_a_full_msix_table_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = {"now": (1024, 524288)}
    monkeypatch.setattr(resource, "getrlimit", lambda _which: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", lambda _which, new: limits.update(now=new))
    assert agent.raise_open_file_limit() == agent.OPEN_FILES
    assert limits["now"] == (agent.OPEN_FILES, 524288)


def test_without_the_right_to_raise_the_hard_limit_the_soft_one_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = {"now": (1024, 4096)}

    def setrlimit(_which: int, new: tuple[int, int]) -> None:
        if new[1] > limits["now"][1]:
            raise ValueError("not allowed to raise maximum limit")
        limits["now"] = new

    monkeypatch.setattr(resource, "getrlimit", lambda _which: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert agent.raise_open_file_limit() == 4096
