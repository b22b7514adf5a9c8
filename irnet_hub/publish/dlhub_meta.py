"""DLHub descriptions of a servable: metadata and schemas (no publishing, no network).

This module sits *below* the servable builder (:mod:`irnet_hub.publish.servable`
calls :func:`write_descriptions`); publishing and remote runs live *above* it,
in :mod:`irnet_hub.publish.dlhub`.

A servable folder (:func:`irnet_hub.publish.servable.build_servable`) carries two
DLHub descriptions, each ``BaseServableModel.to_dict(simplify_paths=True)``
(dlhub-sdk 2.1.0's ``to_dict`` has no ``save_class_data`` argument; with
``simplify_paths`` the file list is relative to the folder, so the description
stays valid wherever the folder is copied):

* ``dlhub.json``: the end-to-end function, formulas -> property, as a
  ``PythonStaticMethodModel`` of :func:`irnet_hub.publish.dlhub_entry.predict`;
  its files are the Keras model files and ``irnet.json``, its dependencies
  irnet-hub and the libraries its NumPy inference path imports.
* ``saved_model/dlhub.json``: the bare network, the TensorFlow SavedModel, as a
  ``TensorFlowModel`` (raw float32 features ``[None, F]`` -> ``[None, 1]``).

Both carry DataCite metadata: title, creators, abstract, publication year, the
IRNet paper as ``IsDescribedBy`` (DOI 10.1145/3292500.3330703), the data
sources as ``IsDerivedFrom`` and the feature definitions as ``References``.

dlhub-sdk validates a description against JSON schemas it downloads from
GitHub; :func:`validate_description` does the same validation offline against
unchanged copies of those schemas vendored in ``dlhub_schemas/`` (upstream
commit recorded in ``dlhub_schemas/SOURCE.json``).

``dlhub_sdk`` is an optional dependency (``pip install irnet-hub[dlhub]``; it
needs pydantic 1); it is imported only inside these functions.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from irnet_hub.errors import MissingDependencyError
from irnet_hub.files import atomic_write
from irnet_hub.constants import PAPER_CITATION, PAPER_DOI
from irnet_hub.featurize.specs import SPECS
from irnet_hub.record import FeaturizerInfo, ModelRecord, as_record

DLHUB_FILE = "dlhub.json"
# Unchanged copies of github.com/DLHub-Argonne/dlhub_schemas (commit in SOURCE.json).
SCHEMA_DIR = "dlhub_schemas"
TF_DLHUB_FILE = "saved_model/dlhub.json"
ENTRY_MODULE = "irnet_hub.publish.dlhub_entry"
ENTRY_FUNCTION = "predict"
# Credited by default: the authors of the IRNet method (override with creators=...).
IRNET_AUTHORS = [
    "Jha, Dipendra", "Ward, Logan", "Yang, Zijiang", "Wolverton, Christopher",
    "Foster, Ian", "Liao, Wei-keng", "Choudhary, Alok", "Agrawal, Ankit",
]
# DOIs of the data sources named in irnet_hub.data (database -> DOIs of its reference papers).
DATABASE_DOIS = {
    "Materials Project": ["10.1063/1.4812323"],  # Jain et al., APL Mater. 2013
    "OQMD": ["10.1038/npjcompumats.2015.10"],  # Kirklin et al., npj Comput. Mater. 2015
    "Matbench": ["10.1038/s41524-020-00406-3"],  # Dunn et al., npj Comput. Mater. 2020
    "AFLOW": ["10.1016/j.commatsci.2012.02.005"],  # Curtarolo et al., Comput. Mater. Sci. 2012
}
SPLIT_DOI = "10.1038/s41524-021-00545-1"  # Wang et al. (CrabNet), npj Comput. Mater. 2021: the published splits
_LICENSE_URIS = {"CC BY 4.0": "https://creativecommons.org/licenses/by/4.0/"}
# Libraries irnet_hub.predictor needs at run time (TensorFlow is not among them).
RUNTIME_LIBRARIES = ("numpy", "pandas", "h5py", "pymatgen", "matminer")


class DLHubUnavailableError(MissingDependencyError):
    """dlhub-sdk (and its pydantic-1 stack), or TensorFlow for the SavedModel description, is not installed."""


def _require_sdk() -> None:
    try:
        with warnings.catch_warnings():
            # dlhub-sdk imports jsonschema's deprecated RefResolver at import time; not our concern here.
            warnings.simplefilter("ignore", DeprecationWarning)
            import dlhub_sdk.client  # noqa: F401
            import dlhub_sdk.models.servables.python  # noqa: F401
    except Exception as e:  # ImportError, or pydantic 2 breaking dlhub-sdk 2.1.0 at import
        raise DLHubUnavailableError(
            "dlhub-sdk",
            "DLHub support needs dlhub-sdk 2.1.0 with pydantic<2 and globus-compute-sdk<3: "
            f"pip install 'irnet-hub[dlhub]' ({type(e).__name__}: {e})",
        ) from None


def sdk_available() -> bool:
    """Whether dlhub-sdk can be imported here."""
    try:
        _require_sdk()
    except DLHubUnavailableError:
        return False
    return True


# --------------------------------------------------------------------------- describing


def servable_name(info: ModelRecord | Mapping[str, Any]) -> str:
    """The DLHub short name of a model: ``irnet-<name>`` (no whitespace, as the schema requires)."""
    from irnet_hub.publish.card import slug

    return "irnet-" + slug(as_record(info).display_name)


def _publication_year(record: ModelRecord) -> str:
    created = str(record.created or "")
    return created[:4] if created[:4].isdigit() else str(_dt.date.today().year)


def _describe_common(model, info: ModelRecord, *, title: str, creators: Sequence[str] | None) -> None:
    """DataCite and general metadata shared by both descriptions."""
    from irnet_hub.publish.card import dataset_entry

    prop, unit = info.target.name or "target", info.target.unit
    unit_txt = f" ({unit})" if unit else ""
    feat = info.featurizer
    data = info.data
    metrics = info.metrics
    ds = dataset_entry(info)

    model.set_name(servable_name(info))
    model.set_title(title)
    model.set_creators(list(creators or IRNET_AUTHORS))
    model.set_publication_year(_publication_year(info))
    model.set_domains(["materials science"])
    scores = [f"validation MAE {metrics['val']['mae']:.4g}{' ' + unit if unit else ''}"] if metrics.get("val") else []
    if metrics.get("test"):
        scores.append(f"test MAE {metrics['test']['mae']:.4g}{' ' + unit if unit else ''}")
    source = f"{ds.database} ({data.dataset})" if ds else (data.dataset or "user-supplied data")
    model.set_abstract(
        f"IRNet deep residual regression network (Jha et al., KDD 2019) predicting {prop}{unit_txt} of inorganic "
        f"materials from {'their chemical formula' if feat.input_kind == 'composition' else 'their crystal structure'} "
        f"via {_features_phrase(feat)}. Trained on "
        f"{'?' if data.n_train is None else data.n_train} entries of {source}" + (f"; {', '.join(scores)}." if scores else ".")
    )
    methods = (
        f"Architecture {info.architecture} ({'?' if info.n_parameters is None else info.n_parameters} parameters), "
        f"trained with irnet-hub (Keras 3): {json.dumps(info.hyperparameters.to_dict())}. "
        f"Method: {PAPER_CITATION}."
    )
    if ds:
        methods += f" Data: {ds.database}, {ds.citation}."
    model.set_methods(methods)
    model.datacite.add_related_identifier(PAPER_DOI, "DOI", "IsDescribedBy")
    if ds:
        for doi in DATABASE_DOIS.get(ds.database, []):
            model.datacite.add_related_identifier(doi, "DOI", "IsDerivedFrom")
        if "Wang et al." in ds.citation:
            model.datacite.add_related_identifier(SPLIT_DOI, "DOI", "IsDerivedFrom")
        if ds.license in _LICENSE_URIS:
            model.datacite.add_rights(_LICENSE_URIS[ds.license], f"Training data: {ds.license} ({ds.database})")
    spec = SPECS.get(feat.name)
    for doi in spec.dois if spec else ():
        model.datacite.add_related_identifier(doi, "DOI", "References")


def _features_phrase(feat: FeaturizerInfo) -> str:
    spec = SPECS.get(feat.name)
    return spec.phrase() if spec else f"the {feat.n_features or ''} {feat.name} attributes".replace("the  ", "the ")


def _installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def default_requirements() -> dict[str, str]:
    """Pinned requirements of the end-to-end function: irnet-hub and its inference-time libraries."""
    import irnet_hub

    reqs = {"irnet-hub": _installed_version("irnet-hub") or irnet_hub.__version__}
    for lib in RUNTIME_LIBRARIES:
        v = _installed_version(lib)
        if v:
            reqs[lib] = v
    return reqs


def _python_files(folder: Path) -> list[Path]:
    """Files the end-to-end servable ships: everything except the SavedModel and its own description."""
    files = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != DLHUB_FILE and not rel.startswith("saved_model/"):
            files.append(p)
    if not (folder / "manifest.json").exists():
        files.append(folder / "manifest.json")  # written after the descriptions, last of all
    return files


def describe_python(folder: str | Path, info: ModelRecord | Mapping[str, Any] | None = None, *,
                    creators: Sequence[str] | None = None, requirements: Mapping[str, str] | None = None):
    """The end-to-end servable: :func:`irnet_hub.publish.dlhub_entry.predict` as a ``PythonStaticMethodModel``."""
    _require_sdk()
    from dlhub_sdk.models.servables.python import PythonStaticMethodModel

    from irnet_hub import artifact

    folder = Path(folder).resolve()
    info = as_record(info) if info is not None else artifact.read_record(folder)
    prop, unit = info.target.name or "target", info.target.unit
    model = PythonStaticMethodModel.create_model(module=ENTRY_MODULE, method=ENTRY_FUNCTION, autobatch=False)
    _describe_common(model, info, title=f"IRNet {prop} model {info.name or ''}: formula to {prop}".strip(),
                     creators=creators)
    model.set_inputs("list", "Chemical formulas, e.g. ['Fe2O3', 'NaCl']", item_type="string")
    model.set_outputs(
        "list",
        f"One result per formula, in input order: the predicted {prop}{' in ' + unit if unit else ''}",
        item_type={
            "type": "dict",
            "description": "Prediction for one formula",
            "properties": {
                "formula": {"type": "string", "description": "The input formula"},
                "parsed_formula": {"type": "string", "description": "The composition as read (CuSO4.5H2O: CuSO9H10)"},
                "prediction": {"type": "float", "description": f"Predicted {prop}"},
                "unit": {"type": "string", "description": "Unit of the prediction"},
                "in_domain": {"type": "boolean", "description": "False if an element is rare in the training data, "
                                                                "or the input lies outside the training ranges"},
                "rare_elements": {"type": "string", "description": "Comma-joined elements rare in the training data"},
                "note": {"type": "string", "description": "The output rule applied, or why the row is out of domain"},
                **({"prediction_std": {"type": "float", "description": "Ensemble standard deviation x std_scale"}}
                   if info.ensemble_size >= 3 else {}),
                **({"in_training": {"type": "boolean", "description": "The composition is a training row"},
                    "training_value": {"type": "float", "description": "Its training target (null if not in "
                                                                        "training)"}}
                   if "training_set" in info.extras else {}),
            },
        },
    )
    model.servable.model_type = "Deep residual neural network (IRNet)"
    model.servable.model_summary = (
        f"{info.architecture} on {info.featurizer.name} features; "
        "evaluated with irnet-hub's NumPy forward pass (no TensorFlow needed at run time)"
    )
    reqs = dict(requirements or default_requirements())
    spec = SPECS.get(info.featurizer.name)
    for lib in spec.libraries if spec else ():
        reqs.setdefault(lib, _installed_version(lib) or "")
    model.add_requirements(reqs)
    model.add_files([str(p) for p in _python_files(folder)])
    return model


def describe_tensorflow(saved_model_dir: str | Path, info: ModelRecord | Mapping[str, Any], *,
                        creators: Sequence[str] | None = None):
    """The bare network: the SavedModel as a ``TensorFlowModel`` (needs TensorFlow, which it loads)."""
    _require_sdk()
    try:
        from dlhub_sdk.models.servables.tensorflow import TensorFlowModel  # imports tensorflow
    except ImportError as e:
        raise DLHubUnavailableError("tensorflow", f"describing the SavedModel for DLHub needs TensorFlow ({e})") from None

    info = as_record(info)
    prop, unit = info.target.name or "target", info.target.unit
    n_features = int(info.featurizer.n_features or len(info.scaler.feature_mean if info.scaler else []))
    model = TensorFlowModel.create_model(str(Path(saved_model_dir).resolve()))
    _describe_common(model, info, title=f"IRNet {prop} network {info.name or ''} (TensorFlow SavedModel)",
                     creators=creators)
    # dlhub-sdk reads a TF2 signature's inputs from ConcreteFunction.inputs, which also lists the
    # constants the function captures (here the Normalization mean and variance) and then calls the
    # method a 'tuple' of three tensors, a type the DLHub schema does not even allow. The signature
    # really takes one float32 tensor, so describe exactly that.
    features = {
        "type": "ndarray",
        "description": f"Raw {info.featurizer.name} features "
        "(NaN replaced by irnet.json scaler.feature_mean), float32",
        "shape": [None, n_features],
        "item_type": {"type": "float"},
    }
    output = {
        "type": "ndarray",
        "description": f"Predicted {prop}{' in ' + unit if unit else ''} (output_0)",
        "shape": [None, 1],
        "item_type": {"type": "float"},
    }
    for name in list(model.servable.methods):
        model.register_function(name, features, output, method_details=model.servable.methods[name].method_details)
    model.servable.model_type = "Deep residual neural network (IRNet), TensorFlow SavedModel"
    return model


# --------------------------------------------------------------------------- schemas


@lru_cache(maxsize=1)
def _schema_bundle() -> dict[str, Any]:
    """The vendored upstream schemas (``dlhub_schemas/``, unchanged) and where they come from."""
    folder = Path(__file__).with_name(SCHEMA_DIR)
    source = json.loads((folder / "SOURCE.json").read_text())
    schemas = {name: json.loads((folder / name).read_text()) for name in source["files"]}
    return {"base_url": source["base_url"], "commit": source["commit"], "schemas": schemas}


def schema_store() -> dict[str, Any]:
    """The DLHub schemas by the URL dlhub-sdk downloads them from (an offline ``RefResolver`` store)."""
    bundle = _schema_bundle()
    return {bundle["base_url"] + name: schema for name, schema in bundle["schemas"].items()}


def validate_description(doc: Mapping[str, Any], schema_name: str = "servable") -> None:
    """Validate a DLHub description offline, exactly as ``validate_against_dlhub_schema`` does online.

    Same validator (``Draft7Validator``) and base URI as dlhub-sdk, with the
    schemas resolved from the shipped copies instead of GitHub. Raises
    ``jsonschema.ValidationError`` when the document does not conform.
    """
    bundle = _schema_bundle()
    schema = bundle["schemas"][f"{schema_name}.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver is deprecated but is what dlhub-sdk uses
        from jsonschema import Draft7Validator, RefResolver

        resolver = RefResolver(bundle["base_url"], schema, store=schema_store())
        Draft7Validator(schema, resolver=resolver).validate(dict(doc))


def write_descriptions(folder: str | Path, info: ModelRecord | Mapping[str, Any] | None = None, *,
                       creators: Sequence[str] | None = None,
                       requirements: Mapping[str, str] | None = None) -> list[Path]:
    """Describe a servable folder and write ``saved_model/dlhub.json`` and ``dlhub.json`` (validated)."""
    from irnet_hub import artifact

    folder = Path(folder)
    info = as_record(info) if info is not None else artifact.read_record(folder)
    written = []
    if (folder / "saved_model").is_dir():
        # dlhub-sdk lists every file of the folder: an older description must not list itself.
        (folder / TF_DLHUB_FILE).unlink(missing_ok=True)
        tf_doc = describe_tensorflow(folder / "saved_model", info, creators=creators).to_dict(simplify_paths=True)
        validate_description(tf_doc)
        written.append(_write_json(folder / TF_DLHUB_FILE, tf_doc))
    py_doc = describe_python(folder, info, creators=creators, requirements=requirements).to_dict(simplify_paths=True)
    validate_description(py_doc)
    written.append(_write_json(folder / DLHUB_FILE, py_doc))
    return written


def _write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    return atomic_write(path, json.dumps(doc, indent=2, default=str) + "\n")


def load_description(path: str | Path):
    """A publishable model object from a written ``dlhub.json`` (file paths made absolute again).

    Manual edits to ``dlhub.json`` are kept, and the TensorFlow description
    can be republished without TensorFlow installed.
    """
    _require_sdk()
    from dlhub_sdk.models import DLHubMetadata
    from dlhub_sdk.models.datacite import Datacite
    from dlhub_sdk.models.servables import BaseServableModel, ServableMetadata

    path = Path(path).resolve()
    doc = json.loads(path.read_text())
    root = path.parent

    class DescribedServable(BaseServableModel):
        def _get_handler(self):
            return doc["servable"]["shim"]

        def _get_type(self):
            return doc["servable"]["type"]

    model = DescribedServable()
    model.dlhub = DLHubMetadata.parse_obj(doc["dlhub"])
    model.dlhub.type = doc["dlhub"].get("type", "servable")  # a plain string, as describe_* leave it
    model.datacite = Datacite.parse_obj(doc["datacite"])
    resource = doc["datacite"].get("resourceType") or {}
    if model.datacite.resourceType is not None and "resourceType" not in resource:
        model.datacite.resourceType.resourceType = None  # parse_obj fills in '', which to_dict would then emit
    model.servable = ServableMetadata.parse_obj(doc["servable"])
    model.dlhub.files = {
        k: [str(root / f) for f in v] if isinstance(v, list) else str(root / v) for k, v in model.dlhub.files.items()
    }
    return model


__all__ = [
    "DLHUB_FILE", "TF_DLHUB_FILE", "PAPER_DOI", "describe_python", "describe_tensorflow", "validate_description",
    "write_descriptions", "load_description", "servable_name", "schema_store", "sdk_available",
    "DLHubUnavailableError", "default_requirements",
]
