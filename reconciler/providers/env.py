"""Where each provider's token and base URL come from, and the one factory for HTTP clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from reconciler import __version__
from reconciler.errors import AuthError

USER_AGENT = f"reconciler/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


@dataclass(frozen=True)
class ProviderEnv:
    """Where a provider's token and base URL come from."""

    display: str  # "CommBox"
    token_var: str
    base_url_var: str
    default_base_url: str


PROVIDER_ENV: dict[str, ProviderEnv] = {
    "commbox": ProviderEnv("CommBox", "COMMBOX_API_TOKEN", "COMMBOX_BASE_URL", "https://api.commbox.io/"),
    "whop": ProviderEnv("Whop", "WHOP_API_KEY", "WHOP_BASE_URL", "https://api.whop.com/api/v1"),
    "smallest": ProviderEnv(
        "Smallest AI", "SMALLEST_API_KEY", "SMALLEST_BASE_URL", "https://api.smallest.ai/atoms/v1"
    ),
}


def build_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """The one factory for provider HTTP clients: timeouts and User-Agent, no credentials."""
    return httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False)


def resolve_token(provider: str, env: Mapping[str, str]) -> str:
    """The provider's bearer token from `env`; AuthError naming the variable when it is missing."""
    spec = PROVIDER_ENV[provider]
    token = (env.get(spec.token_var) or "").strip()
    if not token:
        raise AuthError(
            f"{spec.token_var} is not set; export your {spec.display} API token in it", provider=provider
        )
    return token


def resolve_base_url(provider: str, settings: Mapping[str, object], env: Mapping[str, str]) -> str:
    """Base URL: provider settings `base_url`, else the *_BASE_URL variable, else the public API."""
    spec = PROVIDER_ENV[provider]
    configured = settings.get("base_url")
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return (env.get(spec.base_url_var) or "").strip() or spec.default_base_url
