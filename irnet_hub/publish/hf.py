"""Publish a model to the Hugging Face Hub.

:func:`publish_hf` builds the servable (:mod:`irnet_hub.publish.servable`) in a
temporary folder and uploads it with ``HfApi.create_repo`` +
``HfApi.upload_folder``, the same two calls ``keras.saving.save_model(model,
"hf://...")`` makes, so the repository is a regular Keras repository that
``keras.saving.load_model("hf://ORG/NAME")`` reads, with irnet-hub's extra
files next to the Keras ones.

The token is passed to huggingface_hub and nowhere else: it is never printed,
logged or written (without one, huggingface_hub uses ``HF_TOKEN`` or the
token saved by ``hf auth login``).

What happens on the wire (huggingface_hub 2.4.0): ``POST /api/repos/create``;
``POST /api/validate-yaml`` with the card; ``POST
/api/models/{repo}/preupload/{rev}``, where the Hub decides per file between
"regular" (sent inline, base64, in the NDJSON commit) and "lfs" (the repo's
``.gitattributes`` patterns, whose default covers ``*.h5``, ``*.pb`` and
``saved_model/**/*``; files over 10 MB; binary files over 1 MB): so the weights and
the SavedModel are large-file uploads, the JSON/CSV/Markdown files regular
ones. With ``hf_xet`` installed, large files go to the Hub's Xet storage
(``upload_folder`` runs its streamed multi-commit pipeline); without it,
through the git-LFS batch API. Then ``POST /api/models/{repo}/commit/{rev}``.
``tests/test_publish_hf.py`` replays both variants against a local server.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

from irnet_hub.errors import InvalidInputError, IrnetError, RemoteError


class PublishError(RemoteError):
    """The Hub refused or failed the upload (authentication, permissions, a 5xx, ...): exit code 4."""


def _check_repo_id(repo_id: str) -> str:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise InvalidInputError(repo_id, "a Hugging Face repository is named ORG/NAME, e.g. 'my-lab/irnet-bulk-modulus'")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise InvalidInputError(repo_id, f"not a valid Hugging Face repository id ({e})") from None
    return repo_id


def publish_hf(
    model_dir: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    *,
    endpoint: str | None = None,
    commit_message: str | None = None,
    anchors: Mapping[str, Any] | None = None,
    license: str | None = None,
) -> str:
    """Upload the model in ``model_dir`` to the Hub repository ``repo_id``; returns the commit URL.

    The repository is created if needed (``private`` applies only then). With
    ``revision``, the files go to that branch, created from ``main`` if
    missing. ``endpoint`` overrides ``HF_ENDPOINT`` (a private Hub, or a test
    server). ``anchors``/``license`` go into the model card.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    import irnet_hub
    from irnet_hub import artifact
    from irnet_hub.publish.servable import build_servable
    from irnet_hub.integrity import check_model_dir

    import os

    from irnet_hub.hub.network import hub_unreachable

    repo_id = _check_repo_id(repo_id)
    src = check_model_dir(model_dir)
    record = artifact.read_record(src)
    # Without a network the upload cannot succeed: say so before the (slow) servable build.
    from huggingface_hub import constants

    # The endpoint HfApi will use: the argument, else HF_ENDPOINT (huggingface_hub reads it at import).
    why = hub_unreachable(endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    if why is not None:
        raise RemoteError(f"cannot publish {src} to {repo_id}: the Hugging Face Hub is unreachable ({why})")
    api = HfApi(endpoint=endpoint, token=token, library_name="irnet-hub", library_version=irnet_hub.__version__)
    with tempfile.TemporaryDirectory(prefix="irnet-hf-") as tmp:
        folder = build_servable(src, Path(tmp) / "servable", anchors=anchors, license=license, repo_id=repo_id)
        try:
            repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            repo_id = getattr(repo_url, "repo_id", None) or repo_id  # the Hub may normalize the name
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                repo_type="model",
                revision=revision,
                commit_message=commit_message or f"Upload IRNet model {record.name or src.name} (irnet-hub {irnet_hub.__version__})",
            )
        except HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            hint = {401: "the token was rejected: log in (hf auth login) or set HF_TOKEN",
                    403: "the token may not write to this namespace"}.get(status, "")
            # str(e) is the Hub's message and request id; huggingface_hub never puts the token in it.
            raise PublishError(repo_id, f"upload failed ({e}){'; ' + hint if hint else ''}") from None
        except (OSError, ConnectionError) as e:
            raise RemoteError(f"upload of {src} to {repo_id} failed: {type(e).__name__}: {e}") from None
        except Exception as e:  # httpx/requests transport errors (ConnectError, timeouts) are not OSErrors
            if type(e).__module__.split(".")[0] in ("httpx", "httpcore", "requests", "urllib3"):
                raise RemoteError(f"upload of {src} to {repo_id} failed: {type(e).__name__}: {e}") from None
            raise
    url = getattr(commit, "commit_url", None) or str(commit)
    if not url:
        raise IrnetError(f"the Hub returned no commit for {repo_id}")
    return str(url)


__all__ = ["publish_hf", "PublishError"]
