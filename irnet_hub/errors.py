"""The exceptions irnet-hub raises for problems with a user's input.

One type, :class:`InvalidInputError`, so that callers (and the CLI) can catch
every "your input is wrong" case in one place and show it without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class IrnetError(Exception):
    """Base class of irnet-hub's own errors."""


# Errors by kind; the CLI maps each kind to its exit code (irnet_hub.cli.EXIT_CODES):
# 2 input, 3 dependency, 4 remote, 5 integrity, 6 unsupported format, 1 any other IrnetError.


class DependencyError(IrnetError):
    """An optional dependency that this operation needs is not installed."""


class RemoteError(IrnetError):
    """A remote service (the Hugging Face Hub, DLHub) could not be reached or refused the request."""


class IntegrityError(IrnetError):
    """Model files are damaged: missing, not matching their sha256, or holding non-finite numbers."""


class UnsupportedFormatError(IrnetError):
    """A model (or file) in a format this version of irnet-hub cannot read."""


class IrnetWarning(UserWarning):
    """Something the user should know about a result that is still usable (shown once, no traceback)."""


class InvalidInputError(IrnetError, ValueError):
    """An input (formula, structure, file, option) that cannot be used.

    ``input`` is the offending value as the user gave it and ``reason`` says
    what is wrong with it; ``str(error)`` combines both.
    """

    def __init__(self, input: object, reason: str):
        self.input = input
        self.reason = reason
        super().__init__(f"{_show(input)}: {reason}")


@dataclass(frozen=True)
class RowFailure:
    """One row of a batch that could not be processed."""

    row: int
    input: object
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} {_show(self.input)}: {self.reason}"


class BatchInputError(InvalidInputError):
    """Several rows of a batch were invalid; ``failures`` lists each one."""

    def __init__(self, failures: list[RowFailure]):
        self.failures = list(failures)
        lines = "\n".join(f"  {f}" for f in self.failures[:20])
        more = f"\n  ... and {len(self.failures) - 20} more invalid row(s) not shown" if len(self.failures) > 20 else ""
        IrnetError.__init__(self, f"{len(self.failures)} invalid input(s):\n{lines}{more}")
        self.input = [f.input for f in self.failures]
        self.reason = "invalid rows"


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
