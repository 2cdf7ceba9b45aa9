"""Where each provider's token and base URL come from, and the one factory for HTTP clients.

The variable names and the public base URL are declared by each provider class (see
`reconciler.providers.base.Provider`); this module is the one place that reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from reconciler import __version__
from reconciler.config.urls import base_url_problem
from reconciler.errors import AuthError, ConfigError

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
    if not _HEADER_SAFE.fullmatch(token):  # never echoed: say what is wrong, not what it holds
        raise AuthError(
            f"{spec.token_var} holds a character that cannot be sent in an HTTP header (a line break, "
            "another control character or a non-ASCII character); set it to the token alone",
            provider=provider,
        )
    return token


# What a bearer token may hold: visible ASCII and inner spaces (HTTP field-value without obs-text).
_HEADER_SAFE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def resolve_base_url(provider: str, settings: Mapping[str, object], env: Mapping[str, str]) -> str:
    """Base URL: provider settings `base_url`, else the *_BASE_URL variable, else the public API."""
    spec = provider_env(provider)
    configured = settings.get("base_url")
    if isinstance(configured, str) and configured.strip():
        url, origin = configured.strip(), f"providers.{provider}.base_url"
    else:
        url, origin = (env.get(spec.base_url_var) or "").strip(), spec.base_url_var
        if not url:
            return spec.default_base_url
    problem = base_url_problem(url)
    if problem:
        raise ConfigError(f"{origin} {problem}")
    return url
