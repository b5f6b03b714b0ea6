"""How every command reports a problem: a clear message and an exit status, no traceback.

Exit status 2 means "your input file is wrong" (a ConfigError, printed as
`file:line: field: message` lines, the same convention as click's usage
errors); 1 means "the command could not do its job here" (a missing file,
a permission, a kernel interface that is absent), printed as one line.
Anything else is a bug in the framework and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from hil.lab.configfile import ConfigError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
PIPED_WIDTH = 250

P = ParamSpec("P")
R = TypeVar("R")


class CommandError(Exception):
    """An expected failure; its message is the one line the user sees."""


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a click command callback so expected errors become messages and exit codes."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
        except CommandError as exc:
            click.echo(f"hil: {exc}", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"hil: {exc.strerror or exc}{where}", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None

    return wrapper


def console() -> Console:
    """A rich console on stdout that never wraps table rows when output is piped.

    Rows are grepped and diffed; a terminal keeps its own width.
    """
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
