"""How a model and its card show in Jupyter: ``Predictor._repr_html_`` and :class:`ModelCardText`.

Plain HTML built with the standard library (no template engine); the card is Markdown, which
Jupyter renders itself through ``_repr_markdown_``.
"""

from __future__ import annotations

import html
from typing import Any

_FRONT_MATTER_END = "\n---\n"


class ModelCardText(str):
    """A model card (``README.md``): a ``str``, shown in Jupyter as rendered Markdown.

    The YAML front matter (Hugging Face metadata) is left out of the rendered view; ``str(card)``
    and every string operation see the whole file.
    """

    def body(self) -> str:
        """The card without its YAML front matter."""
        if self.startswith("---\n") and _FRONT_MATTER_END in self[4:]:
            return str(self[4:].split(_FRONT_MATTER_END, 1)[1]).lstrip("\n")
        return str(self)

    def _repr_markdown_(self) -> str:
        return self.body()

    def _repr_html_(self) -> str:
        try:  # markdown-it-py comes with rich (Jupyter installs have it); without it, the text as is
            from markdown_it import MarkdownIt
        except ImportError:
            return f"<pre>{html.escape(self.body())}</pre>"
        return MarkdownIt("commonmark").enable("table").render(self.body())


def _row(label: str, value: Any) -> str:
    return f"<tr><th style='text-align:left'>{html.escape(label)}</th><td style='text-align:left'>{html.escape(str(value))}</td></tr>"


def predictor_html(predictor: Any) -> str:
    """A small table for a :class:`~irnet_hub.predictor.Predictor`: name, property, unit, data, test MAE."""
    record = predictor.record
    rows = [_row("model", predictor.name), _row("property", f"{predictor.property} ({predictor.unit})"),
            _row("input", f"{predictor.input_kind}: {record.featurizer.name} ({record.featurizer.n_features} features)")]  # fmt: skip
    data = record.data
    if data is not None:
        sizes = ", ".join(f"{k} {n:,}" for k, n in (("train", data.n_train), ("val", data.n_val), ("test", data.n_test))
                          if n)  # fmt: skip
        rows.append(_row("data", f"{data.dataset or '-'} ({sizes})" if sizes else data.dataset or "-"))
        split = (data.split or {}).get("text")
        if split:
            rows.append(_row("split", split))
    test = (record.metrics or {}).get("test") or {}
    if test.get("mae") is not None:
        rows.append(_row("test MAE", f"{test['mae']:.4g} {predictor.unit} (n={test.get('n', '?'):,})"
                         if isinstance(test.get("n"), int) else f"{test['mae']:.4g} {predictor.unit}"))
    members = int(getattr(record, "ensemble_size", 1) or 1)
    rows.append(_row("ensemble", f"{members} members, prediction_std calibrated" if members >= 3 else f"{members} network(s)"))
    rows.append(_row("folder", predictor.path))
    return ("<div><b>irnet-hub Predictor</b><table>" + "".join(rows) + "</table>"
            "<small>model.card shows the model card: data, split, metrics and limits</small></div>")
