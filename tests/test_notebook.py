"""Jupyter display (issue 19): a Predictor and its card render as HTML."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_predictor_and_card_render_in_jupyter():
    import irnet_hub
    from irnet_hub.artifact import read_record

    folder = REPO / "servables" / "mp-bulk-modulus"
    model = irnet_hub.load(folder)
    record = read_record(folder)
    page = model._repr_html_()
    assert "<table>" in page and "mp-bulk-modulus" in page and "bulk modulus (GPa)" in page
    assert f"{record.metrics['test']['mae']:.4g} GPa" in page and f"train {record.data.n_train:,}" in page
    assert "3 members" in page

    card = model.card
    assert isinstance(card, str) and card == (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and not card._repr_markdown_().startswith("---")  # metadata not rendered
    rendered = card._repr_html_()
    assert rendered.startswith("<h1>") and "<table>" in rendered and "model-index:" in card
    assert "model-index:" not in rendered


def test_card_html_without_markdown_it(monkeypatch):
    import sys

    from irnet_hub.notebook import ModelCardText

    monkeypatch.setitem(sys.modules, "markdown_it", None)  # import fails
    card = ModelCardText("---\nlicense: mit\n---\n# Title\n\na < b\n")
    assert card._repr_html_() == "<pre># Title\n\na &lt; b\n</pre>"
    assert ModelCardText("# no front matter").body() == "# no front matter"
