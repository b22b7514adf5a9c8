"""Adversarial-input report (issue 11): inputs tried, tracebacks, silent wrong answers, files lost.

    python scripts/robustness_report.py [--json] [--junk 1000]

Runs, in temporary folders (``servables/`` is only read):

* the table of bad CLI inputs of ``tests/test_robustness_cli.py`` (exit code,
  named input, no traceback, files that must not change);
* the damaged-model matrix of ``tests/test_damaged_models.py`` (every kind of
  damage on every path that loads a model; the CLI ``predict``/``evaluate``
  too);
* seeded random junk (text, brackets, numbers, None, bytes) through
  featurization and ``Predictor.predict(errors="skip")``;
* the physical rules on the shipped models: every element on the formation
  model (must be exactly 0), random formulas on the modulus models (never
  negative), and every element and its oxide on every composition ensemble
  (no std 0 while in domain);
* the ``-o`` file-safety cases (symlink, read-only file, device, umask).

A *traceback* is an exception other than irnet-hub's own errors (or the
CLI's "internal error" fallback); a *silent wrong answer* is exit 0 / a
returned result where an error or a rule was due; a *file lost* is an output
target changed or replaced when it had to be kept. The counts go in
README's reliability section.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import stat
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


class Tally:
    def __init__(self) -> None:
        self.counts = {"inputs": 0, "tracebacks": 0, "silent_wrong": 0, "files_lost": 0}
        self.problems: list[str] = []
        self.by_group: dict[str, int] = {}

    def add(self, group: str, *, traceback: str | None = None, silent: str | None = None, lost: str | None = None):
        self.counts["inputs"] += 1
        self.by_group[group] = self.by_group.get(group, 0) + 1
        for key, why in (("tracebacks", traceback), ("silent_wrong", silent), ("files_lost", lost)):
            if why:
                self.counts[key] += 1
                self.problems.append(f"{group}: {key}: {why}")


def cli_cases(t: Tally) -> None:
    from click.testing import CliRunner

    from irnet_hub.cli import main

    mod = _module("test_robustness_cli")
    for case in mod.CASES:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            old = {k: os.environ.get(k) for k in case.env}
            os.environ.update(case.env)
            try:
                case.setup(d)
                r = CliRunner().invoke(main, case.args(d))
            finally:
                for k, v in old.items():
                    os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
            tb = ("Traceback" in r.output or "internal error" in r.output
                  or (r.exception is not None and not isinstance(r.exception, SystemExit)))
            lost = None
            try:
                case.check(d)
            except AssertionError as e:
                lost = f"{case.id}: {e}"
            t.add("cli", traceback=case.id if tb else None,
                  silent=case.id if r.exit_code == 0 and case.code != 0 else None, lost=lost)


def damaged_models(t: Tally) -> None:
    from click.testing import CliRunner

    from irnet_hub.cli import main
    from irnet_hub.errors import IrnetError

    mod = _module("test_damaged_models")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = root / "t.csv"
        csv.write_text("formula,target\nNaCl,-2.0\nFe2O3,-1.7\n")
        for kind, damage in mod.DAMAGE.items():
            d = root / kind / mod.NAME
            shutil.copytree(mod.SOURCE, d, ignore=shutil.ignore_patterns("saved_model"))
            damage(d)
            for path, fn in mod.PATHS.items():
                try:
                    fn(d, csv, root / f"out-{kind}-{path}")
                except IrnetError:
                    t.add("damaged-model")
                except Exception as e:  # noqa: BLE001 - what we count
                    t.add("damaged-model", traceback=f"{kind} {path}: {type(e).__name__}: {e}")
                else:
                    t.add("damaged-model", silent=f"{kind} {path}: a result from a damaged model")
            for args in (["predict", str(d), "NaCl", "--json"], ["evaluate", str(d), "--data", str(csv), "--json"]):
                r = CliRunner().invoke(main, args)
                tb = "Traceback" in r.output or "internal error" in r.output
                t.add("damaged-model", traceback=f"{kind} {args[0]}" if tb else None,
                      silent=f"{kind} {args[0]}: exit {r.exit_code}" if r.exit_code != 5 else None)


def junk(t: Tally, n: int) -> None:
    import numpy as np

    import irnet_hub
    from irnet_hub.errors import IrnetError
    from irnet_hub.featurize.composition import featurize_compositions

    rng = random.Random(11)
    alphabet = "()[]{}0123456789.-+ \t\nHeOFeNaClXxQqDT·²"
    items: list[object] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.6:
            items.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))))
        elif kind < 0.75:
            depth = rng.randint(0, 40)
            items.append("(" * depth + "Fe" + ")" * depth)
        elif kind < 0.85:
            items.append(rng.choice([None, float("nan"), float("inf"), 12, b"NaCl", "", " ", "NaN"]))
        else:
            items.append(rng.choice(["Fe2O3", "NaCl", "Li1000000O", "D2O", "Fe2O3\tNaCl", "NaCl\nFe2O3"]))
    model = irnet_hub.load("oqmd-formation-enthalpy")
    try:
        res = featurize_compositions(items, errors="collect")
        seen = sorted(list(res.rows) + [f.row for f in res.failures])
        bad_rows = seen != list(range(len(items)))
        df = model.predict(items, errors="skip")
        failed = {f.row for f in df.attrs["failures"]}
        for i in range(len(items)):
            v = df["prediction"].iloc[i]
            silent = None
            if i in failed and not np.isnan(v):
                silent = f"row {i} {items[i]!r} failed but has a value"
            elif i not in failed and not np.isfinite(v):
                silent = f"row {i} {items[i]!r} neither predicted nor named"
            elif isinstance(items[i], str) and any(c.isspace() for c in items[i].strip()) and i not in failed:
                silent = f"row {i} {items[i]!r}: whitespace-joined formulas predicted as one"
            t.add("junk", silent=silent or ("featurizer rows do not line up" if bad_rows and i == 0 else None))
    except IrnetError:
        t.add("junk")
    except Exception as e:  # noqa: BLE001
        t.add("junk", traceback=f"{type(e).__name__}: {e}")


def physical_rules(t: Tally) -> None:
    import irnet_hub
    from irnet_hub.featurize.composition import MAX_Z

    from pymatgen.core import Element

    elements = [Element.from_Z(z).symbol for z in range(1, MAX_Z + 1)]
    df = irnet_hub.load("oqmd-formation-enthalpy").predict(elements, errors="skip")
    for sym, v in zip(elements, df["prediction"]):
        t.add("rules", silent=None if v == 0.0 or v != v else f"{sym}: formation enthalpy {v:.3g} (must be 0)")
    rng = random.Random(5)
    formulas = ["".join(f"{rng.choice(elements)}{rng.randint(1, 6)}" for _ in range(rng.randint(1, 3)))
                for _ in range(300)]
    for name in ("mp-bulk-modulus", "mp-shear-modulus"):
        out = irnet_hub.load(name).predict(formulas, errors="skip")
        for f, v in zip(formulas, out["prediction"]):
            t.add("rules", silent=f"{name} {f}: {v:.3g} < 0" if v < 0 else None)
    # Issue 16: no network output with std 0 while in_domain (the moduli gave 0 +- 0 GPa for Ce, U, ...),
    # every element and its oxide through every shipped composition ensemble.
    items = elements + [f"{s}O" for s in elements if s != "O"]
    for name in irnet_hub.list_models():
        model = irnet_hub.load(name)
        if model.input_kind != "composition":
            continue
        out = model.predict(items, errors="skip")
        if "prediction_std" not in out.columns:
            continue
        for f, std, dom, note in zip(items, out["prediction_std"], out["in_domain"], out["note"]):
            if note.startswith(("skipped", "element")):
                continue
            in_domain = str(dom) == "True"  # pandas nullable boolean: True, False or <NA>
            t.add("rules", silent=f"{name} {f}: std 0 while in_domain" if std == 0 and in_domain else None)


def file_safety(t: Tally) -> None:
    from click.testing import CliRunner

    from irnet_hub.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # symlink: the link must stay, its target must get the content
        (d / "link.csv").symlink_to(d / "real.csv")
        CliRunner().invoke(main, ["predict", "oqmd-formation-enthalpy", "NaCl", "-o", str(d / "link.csv")])
        ok = (d / "link.csv").is_symlink() and (d / "real.csv").is_file()
        t.add("files", lost=None if ok else "symlink replaced by a plain file")
        # read-only file without --force: unchanged
        ro = d / "ro.csv"
        ro.write_text("keep\n")
        ro.chmod(0o444)
        CliRunner().invoke(main, ["predict", "oqmd-formation-enthalpy", "NaCl", "-o", str(ro)])
        t.add("files", lost=None if ro.read_text() == "keep\n" else "read-only file overwritten")
        # umask honoured
        old = os.umask(0o027)
        try:
            CliRunner().invoke(main, ["predict", "oqmd-formation-enthalpy", "NaCl", "-o", str(d / "m.csv")])
        finally:
            os.umask(old)
        mode = stat.S_IMODE((d / "m.csv").stat().st_mode)
        t.add("files", silent=None if mode == 0o640 else f"mode {oct(mode)} with umask 027")
        # a device: refused
        if Path("/dev/full").exists():
            r = CliRunner().invoke(main, ["predict", "oqmd-formation-enthalpy", "NaCl", "-o", "/dev/full"])
            t.add("files", lost=None if Path("/dev/full").is_char_device() and r.exit_code == 2 else "device replaced")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--junk", type=int, default=1000, help="random junk inputs (default 1000)")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.simplefilter("ignore")
    t = Tally()
    for step in (cli_cases, damaged_models, physical_rules, file_safety):
        step(t)
    junk(t, args.junk)
    if args.json:
        print(json.dumps({**t.counts, "by_group": t.by_group, "problems": t.problems}, indent=2))
        return
    c = t.counts
    print(f"inputs tried {c['inputs']}: tracebacks {c['tracebacks']}, silent wrong answers {c['silent_wrong']}, "
          f"files lost {c['files_lost']}")
    print("by group: " + ", ".join(f"{k} {v}" for k, v in t.by_group.items()))
    for p in t.problems:
        print("  " + p)


if __name__ == "__main__":
    main()
