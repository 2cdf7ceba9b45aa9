"""Provider clients. `make_provider(name, settings, env)` builds one with its injected httpx client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from urllib.parse import urlsplit

import httpx

from reconciler.errors import ConfigError
from reconciler.providers.base import Capabilities, Provider, RemoteAudience
from reconciler.providers.http import (
    ProviderHTTP,
    RetryPolicy,
    build_client,
    resolve_base_url,
    resolve_token,
)

__all__ = ["Capabilities", "Provider", "RemoteAudience", "make_provider"]

PROVIDER_NAMES = ("commbox", "whop", "smallest")


def make_provider(
    name: str,
    settings: Mapping[str, object],
    env: Mapping[str, str] = os.environ,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Provider:
    """Build the client for provider `name` from its declaration settings and the environment.

    Reads the token (COMMBOX_API_TOKEN, WHOP_API_KEY, SMALLEST_API_KEY; AuthError naming the
    variable when unset), the base URL (settings `base_url`, else *_BASE_URL, else the public API)
    and, for Whop, the account (settings `account_id`, else WHOP_ACCOUNT_ID). Without `client` a
    new one is built and closed by `Provider.close()`; an injected one is left open.
    """
    if name not in PROVIDER_NAMES:
        raise ConfigError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDER_NAMES)}")
    token = resolve_token(name, env)
    base_url = resolve_base_url(name, settings, env)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: base URL {base_url!r} is not an http(s) URL")
    account = ""
    if name == "whop":
        raw = settings.get("account_id") or env.get("WHOP_ACCOUNT_ID") or ""
        account = raw.strip() if isinstance(raw, str) else ""
        if not account:
            raise ConfigError(
                "whop: no account id; set providers.whop.account_id in the declaration or WHOP_ACCOUNT_ID"
            )
    owns = client is None
    http_client = client if client is not None else build_client()
    http = partial(ProviderHTTP, name, token=token, base_url=base_url, client=http_client, sleep=sleep)
    if name == "whop":
        from reconciler.providers.whop import API_VERSION_DATE, Whop

        whop_http = http(
            policy=RetryPolicy(extra_statuses=frozenset({408, 409})),
            headers={"Api-Version-Date": API_VERSION_DATE},
        )
        return Whop(whop_http, account, owns_client=owns)
    if name == "commbox":
        from reconciler.providers.commbox import CommBox

        return CommBox(http(), owns_client=owns)
    from reconciler.providers.smallest import Smallest

    return Smallest(http(), owns_client=owns)
