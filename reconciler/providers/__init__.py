"""Provider clients. `make_provider(name, settings, env)` builds one with its injected httpx client.

Which providers exist is the registry's business (`reconciler.providers.registry`): built-ins and
plugins registered through the `reconciler.providers` entry-point group.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.errors import ConfigError
from reconciler.providers import registry
from reconciler.providers.base import Capabilities, Endpoint, Provider, RemoteAudience

if TYPE_CHECKING:
    import httpx

__all__ = ["Capabilities", "Endpoint", "Provider", "RemoteAudience", "make_provider"]


def make_provider(
    name: str,
    settings: Mapping[str, object],
    env: Mapping[str, str] = os.environ,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    endpoint: Endpoint | None = None,
) -> Provider:
    """Build the client for provider `name` from its declaration settings and the environment.

    Without `endpoint`, reads the token (the class's `token_env`; AuthError naming the variable when
    unset) and the base URL (settings `base_url`, else the class's `base_url_env`, else its public
    API). With `endpoint` (the sandbox), that URL and token are used and nothing else is consulted.
    Required settings (e.g. an account id) come from `settings`, else their environment variable.
    Without `client` a new one is built and closed by `Provider.close()`; an injected one is left open.
    """
    from reconciler.providers.env import build_client, resolve_base_url, resolve_token  # httpx: when used

    cls = registry.get(name)
    if endpoint is None:
        endpoint = Endpoint(resolve_base_url(name, settings, env), resolve_token(name, env))
    parts = urlsplit(endpoint.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: base URL {endpoint.base_url!r} is not an http(s) URL")
    effective = cls.effective_settings(settings, env)
    for key, setting in cls.settings.items():
        if setting.required and not effective.get(key):
            where = f"providers.{name}.{key} in the declaration"
            where += f" or {setting.env}" if setting.env else ""
            raise ConfigError(f"{name}: no {setting.label or key}; set {where}")
    owns = client is None
    http_client = client if client is not None else build_client()
    return cls.connect(endpoint, effective, http_client, owns_client=owns, sleep=sleep)
