"""Whether the Hugging Face Hub can be reached at all, decided in milliseconds (before a download)."""

from __future__ import annotations

import os

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def hub_unreachable(endpoint: str | None, timeout: float = 3.0) -> str | None:
    """Why the Hub endpoint cannot be reached (DNS failure, refused, timeout), or None.

    huggingface_hub retries connection errors with exponential backoff (about
    45 s in all) before giving up; without network (a fresh clone on an
    offline machine) that would delay every fallback to ``servables/``. One
    TCP connect tells in milliseconds. With a proxy configured a direct
    connect proves nothing, so the check is skipped.
    """
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in _PROXY_VARS):
        return None
    url = urlsplit(endpoint or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or e})"
    return None


__all__ = ["hub_unreachable"]
