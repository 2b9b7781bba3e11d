"""Whether timm's weight hub (the Hugging Face Hub) can be reached, asked before timm asks.

Without a network, ``huggingface_hub`` retries each request with a growing back-off before it
gives up, which makes ``model.pretrained: true`` on an offline machine wait about a minute for
an error. `hub_unreachable` answers within `PROBE_SECONDS` instead: the documented switches
(``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``) first, then one TCP connection to the hub's
host, name lookup included. When it is unreachable, `offline_hub` puts ``huggingface_hub`` in
its offline mode for timm's call, so weights already in the local cache still load, and
missing ones fail at once. With a proxy configured the connection is the proxy's to make,
so nothing is probed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator

#: how long the probe waits for a connection to the hub (name lookup included)
PROBE_SECONDS = 3.0
#: where `huggingface_hub` sends requests unless ``HF_ENDPOINT`` says otherwise
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_address() -> tuple[str, int]:
    """``(host, port)`` of the hub: ``HF_ENDPOINT``'s, else ``huggingface.co:443``."""
    url = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    default_port = 443 if url.scheme != "http" else 80
    return url.hostname or "huggingface.co", url.port or default_port


def hub_unreachable(timeout: float = PROBE_SECONDS) -> str | None:
    """Why the hub cannot be reached (one phrase), or ``None`` when it may be."""
    for switch in _OFFLINE_SWITCHES:
        if os.environ.get(switch, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{switch} is set"
    if any(os.environ.get(name) for name in _PROXIES):
        return None
    host, port = hub_address()
    failure: list[str] = ["no answer"]

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                failure.clear()
        except OSError as err:
            failure[0] = err.strerror or type(err).__name__

    # A thread, because the name lookup inside create_connection ignores its timeout.
    probe = threading.Thread(target=connect, name="agcn-hub-probe", daemon=True)
    probe.start()
    probe.join(timeout)
    if probe.is_alive():
        return f"no connection to {host} within {timeout:g} s"
    return f"no connection to {host} ({failure[0]})" if failure else None


@contextlib.contextmanager
def offline_hub(offline: bool) -> Iterator[None]:
    """``huggingface_hub``'s offline mode (cached files only, no request) inside the block,
    when ``offline``; the mode is a module constant it reads on every request."""
    try:
        constants = importlib.import_module("huggingface_hub.constants")
    except ImportError:  # timm then fetches by URL, which fails at once without a network
        constants = None
    if not offline or constants is None or not hasattr(constants, "HF_HUB_OFFLINE"):
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before
