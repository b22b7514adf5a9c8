"""The exceptions irnet-hub raises, grouped by kind.

Every error of irnet-hub's own is an :class:`IrnetError`; its subclasses say
*what kind* of problem it is, so that callers (and the CLI's exit-code table,
``irnet_hub.cli.EXIT_CODES``) can tell "your input is wrong" from "the network
is down" or "a file was tampered with":

=============================  ====  =====================================================
kind                           exit  examples
=============================  ====  =====================================================
:class:`InvalidInputError`     2     unknown element, bad option, missing file or column
:class:`MissingDependencyError` 3    ``dlhub-sdk`` or TensorFlow not installed
:class:`RemoteError`           4     Hugging Face 5xx, DLHub/Globus failure, model not obtainable
:class:`IntegrityError`        5     sha256 of a downloaded or cached file does not match
:class:`UnsupportedModelError` 6     a layer or ``irnet.json`` schema this version cannot read
any other :class:`IrnetError`  1     e.g. a SavedModel export that fails its own check
=============================  ====  =====================================================

``UnsupportedModelError`` also derives from :class:`InvalidInputError` (and
``ValueError``): a model this version cannot read is, to the caller, an input it
cannot use. ``MissingDependencyError`` is not bad input (a missing package is
the installation's, not the user's data's fault): it derives from
``ImportError``, so a featurizer never records it as a bad row. The CLI looks
up the most specific kind first.
"""

from __future__ import annotations

from dataclasses import dataclass


class IrnetError(Exception):
    """Base class of irnet-hub's own errors."""


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


class MissingDependencyError(IrnetError, ImportError):
    """An optional dependency is needed for this task and is not installed.

    ``input`` is the package (as pip names it); ``reason`` says how to install it.
    """

    def __init__(self, input: object, reason: str):
        self.input = input
        self.reason = reason
        super().__init__(f"{_show(input)}: {reason}")


class RemoteError(IrnetError):
    """A remote service (Hugging Face Hub, DLHub, Globus) failed or could not be reached."""


class IntegrityError(IrnetError):
    """Files of a model do not match the sha256 the registry or manifest pins for them."""


class UnsupportedModelError(InvalidInputError):
    """A model this version cannot read: an unknown layer, setting or ``irnet.json`` schema."""


class ModelNotAvailableError(RemoteError):
    """A registered model could be obtained from none of the cache, the Hub or ``servables/``.

    A remote failure (exit 4): the model exists on the Hub but could not be fetched. When a
    source held a file whose sha256 differs, :class:`IntegrityError` is raised instead.
    """


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


_SHOW_MAX = 240  # a long file path stays whole; a megabyte "formula" does not fill the terminal


def _show(value: object) -> str:
    """The user's input as it is shown in a message; an over-long one keeps its start and its end
    (the end of a path is the file name)."""
    if not isinstance(value, str) and hasattr(value, "lattice") and hasattr(value, "composition"):
        # A pymatgen Structure's str() is a multi-line table: name it by formula and size instead.
        value = f"<structure {value.composition.formula}, {len(value)} sites>"
    text = repr(value) if isinstance(value, str) else str(value)
    text = " ".join(text.split()) if "\n" in text else text  # one line per message
    if len(text) <= _SHOW_MAX:
        return text
    half = (_SHOW_MAX - 3) // 2
    return text[:half] + "..." + text[-half:]


__all__ = [
    "IrnetError",
    "InvalidInputError",
    "MissingDependencyError",
    "RemoteError",
    "IntegrityError",
    "UnsupportedModelError",
    "ModelNotAvailableError",
    "IrnetWarning",
    "RowFailure",
    "BatchInputError",
]
