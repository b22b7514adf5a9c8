"""What the irnet-hub model server and its client agree on, over the Open Inference Protocol (V2).

One request predicts one batch of rows with one model:

``POST /v2/models/{name}/infer``::

    {"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [2], "data": ["NaCl", "Xx2O"]}],
     "parameters": {"errors": "skip"}}

* the input tensor is ``formula`` (composition models) or ``structure`` (structure models: each
  element is the JSON text of a pymatgen ``Structure.as_dict()``), datatype ``BYTES``, shape
  ``[n]`` (``[n, 1]`` is accepted too);
* ``parameters.errors`` is ``"raise"`` (default, as in local ``predict``: any invalid row makes the
  whole request a 400 that names every bad row) or ``"skip"`` (200: the valid rows are predicted
  and the ``error`` output says what is wrong with each other row).

Every output has shape ``[n]``, aligned with the input rows (this module's :data:`OUTPUTS`):
``prediction`` (FP32; NaN, sent as JSON ``null``, for a failed row), ``prediction_std`` (FP32,
ensembles only), ``in_domain`` (BOOL), ``rare_elements`` (BYTES, comma-separated), ``formula``
(BYTES: the input formula, or the reduced formula of a structure) and ``error`` (BYTES, ``""`` for
a predicted row); for models that ship their training compositions, ``in_training`` (BOOL) and
``training_value`` (FP32, null where not in training). The response's ``parameters`` carry ``unit``, ``property`` and ``model``.

This module imports nothing heavy: the client uses it without KServe installed.
"""

from __future__ import annotations

# Input tensor names, by the model's input kind.
INPUT_NAMES = {"composition": "formula", "structure": "structure"}
# Output tensors: name -> V2 datatype. prediction_std is present only for ensembles; in_domain
# only for models that recorded their training element counts (others cannot tell).
OUTPUTS = {
    "prediction": "FP32",
    "prediction_std": "FP32",
    "in_domain": "BOOL",
    "rare_elements": "BYTES",
    "note": "BYTES",  # the output rule applied, the domain reason, or why a row was skipped (as locally)
    "formula": "BYTES",
    "parsed_formula": "BYTES",  # the composition as read ("" for a failed row)
    "error": "BYTES",
    "in_training": "BOOL",  # models that ship training_set.npz: the composition is a training row
    "training_value": "FP32",  # ... and its training target (NaN, sent as null, when not in training)
}
ERRORS_PARAMETER = "errors"
ERROR_MODES = ("raise", "skip")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# Rows per request: 10,000 formulas are ~1.5 s of work for IRNet-17 on one core, so one request
# cannot hold the server for long; the client splits larger inputs into requests of this size.
DEFAULT_MAX_ROWS = 10_000
# Request body: 10,000 structures of ~50 sites are ~30 MB of JSON.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# Per row: no real formula is this long; a longer one is refused before it reaches the parser.
MAX_FORMULA_CHARS = 256
# Per row: Voronoi featurization grows with the sites; bigger cells are refused, not queued.
MAX_STRUCTURE_SITES = 500
# Per structure: featurizing one in the server's worker process may take this long (a 128-site cell
# took 45-61 s on a busy 2-core machine, benchmarks/RESULTS_structure_cells.md); a longer one fails
# its row, and the worker is replaced.
DEFAULT_STRUCTURE_TIMEOUT = 120.0
# Before any request reaches the app (and its token check): a request head (request line + headers)
# may be this large, and must arrive whole within this many seconds of connecting or of the
# previous response; otherwise 400, or the connection is closed.
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT_SECONDS = 10.0
# On SIGTERM/SIGINT, requests in flight get this long to finish before the server exits anyway.
SHUTDOWN_GRACE_SECONDS = 3
# Rows per request the client sends by default (well under the server's limits).
DEFAULT_CLIENT_BATCH = 1000


def safe_text(text: str) -> str:
    """``text`` made JSON/UTF-8 safe: lone surrogates and other unencodable code points escaped.

    A client can send any code point in a JSON string (``"\\ud800"``), and echoing it back
    unescaped would make the response unencodable.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class OneLineLogFilter:
    """A logging filter that escapes control characters (CR, LF, ESC, ...) in every message, so a
    client's text (a model name with %0a, a formula) can never start a forged line in the log."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)
            record.args = ()
        return True


def escape_logs() -> None:
    """Attach :class:`OneLineLogFilter` to every handler configured now (KServe's, uvicorn's, the root's)."""
    import logging

    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        handlers.extend(getattr(logger, "handlers", []))
    for handler in handlers:
        if not any(isinstance(f, OneLineLogFilter) for f in handler.filters):
            handler.addFilter(OneLineLogFilter())


__all__ = ["OneLineLogFilter", "escape_logs",
    "INPUT_NAMES", "OUTPUTS", "ERRORS_PARAMETER", "ERROR_MODES", "DEFAULT_HOST", "DEFAULT_PORT",
    "DEFAULT_MAX_ROWS", "DEFAULT_MAX_BODY_BYTES", "MAX_FORMULA_CHARS", "MAX_STRUCTURE_SITES",
    "DEFAULT_CLIENT_BATCH", "safe_text",
]
