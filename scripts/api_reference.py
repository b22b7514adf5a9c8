"""Build the API reference (HTML, from the docstrings, with pdoc) and check its links.

    python scripts/api_reference.py [OUT_DIR]        (make docs: docs/api/)

Every public module of irnet_hub gets a page. A module whose optional dependency is not
installed in this environment is left out and named (in .venv: the two KServe modules of
irnet_hub.serving, which need the [serve] extra). Then every link between the pages, and every
#anchor, is checked: the script exits 1 naming each one that points nowhere.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pdoc
import pdoc.render


def public_modules() -> tuple[list[str], dict[str, str]]:
    """Importable public modules (no ``_`` part), and those left out with the missing package."""
    import irnet_hub
    from irnet_hub.errors import MissingDependencyError

    names = ["irnet_hub"] + sorted(
        m.name for m in pkgutil.walk_packages(irnet_hub.__path__, "irnet_hub.")
        if not any(part.startswith("_") for part in m.name.split(".")))
    kept, left_out = [], {}
    for name in names:
        try:
            importlib.import_module(name)
        except MissingDependencyError as exc:  # an optional extra's package, e.g. kserve
            left_out[name] = str(exc).split(":")[0]
        except ModuleNotFoundError as exc:
            left_out[name] = repr(exc.name)
        else:
            kept.append(name)
    return kept, left_out


class _Links(HTMLParser):
    """Collects the ids of a page and the links (href/src) it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            elif key in ("href", "src") and value:
                self.links.append(value)


def broken_links(out_dir: Path) -> list[str]:
    """Every link between the built pages whose file or #anchor does not exist."""
    pages = {p.resolve(): p for p in out_dir.rglob("*.html")}
    parsed: dict[Path, _Links] = {}
    for path in pages:
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8"))
        parsed[path] = parser
    broken = []
    for path, parser in parsed.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("javascript:", "data:")):
                continue  # external: not ours to check offline
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            where = f"{path.relative_to(out_dir.resolve())}: {link}"
            if not target.exists():
                broken.append(f"{where} (no file {target.name})")
            elif parts.fragment and target in parsed and unquote(parts.fragment) not in parsed[target].ids:
                broken.append(f"{where} (no anchor #{parts.fragment} in {target.name})")
    return broken


def build(out_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Write the reference into ``out_dir``; returns (documented modules, modules left out)."""
    modules, left_out = public_modules()
    pdoc.render.configure(docformat="markdown", footer_text="irnet-hub API reference")
    with warnings.catch_warnings():
        # A package's page lists its submodules, and they are also named on their own: pdoc warns.
        warnings.filterwarnings("ignore", message="The module specification")
        for name in left_out:  # named in the output instead
            warnings.filterwarnings("ignore", message=f"Couldn't import {re.escape(name)}:")
        # "!name": do not let pdoc import a left-out module while it walks its package
        pdoc.pdoc(*modules, *(f"!{re.escape(name)}$" for name in left_out), output_directory=out_dir)
    return modules, left_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("docs/api"))
    args = parser.parse_args(argv)
    modules, left_out = build(args.out_dir)
    print(f"API reference: {len(modules)} modules in {args.out_dir}/index.html")
    for name, package in left_out.items():
        print(f"  left out {name}: needs {package}, not installed here")
    broken = broken_links(args.out_dir)
    for line in broken:
        print(f"broken link: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
