"""Where each provider's token and base URL come from, and the one factory for HTTP clients.

The variable names and the public base URL are declared by each provider class (see
`reconciler.providers.base.Provider`); this module is the one place that reads them.
"""

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


def provider_env(provider: str) -> ProviderEnv:
    """Where provider `provider`'s token and base URL come from (ConfigError when unknown)."""
    from reconciler.providers import registry

    cls = registry.get(provider)
    return ProviderEnv(cls.title, cls.token_env, cls.base_url_env, cls.default_base_url)


def build_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """The one factory for provider HTTP clients: timeouts and User-Agent, no credentials."""
    return httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False)


def resolve_token(provider: str, env: Mapping[str, str]) -> str:
    """The provider's bearer token from `env`; AuthError naming the variable when it is missing."""
    spec = provider_env(provider)
    token = (env.get(spec.token_var) or "").strip()
    if not token:
        raise AuthError(
            f"{spec.token_var} is not set; export your {spec.display} API token in it", provider=provider
        )
    return token


def resolve_base_url(provider: str, settings: Mapping[str, object], env: Mapping[str, str]) -> str:
    """Base URL: provider settings `base_url`, else the *_BASE_URL variable, else the public API."""
    spec = provider_env(provider)
    configured = settings.get("base_url")
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return (env.get(spec.base_url_var) or "").strip() or spec.default_base_url
