"""Provider clients for one run, built lazily once per provider and closed at the end."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType

from reconciler.config.model import Declaration
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.planning.records import provider_settings
from reconciler.providers import make_provider
from reconciler.providers.base import Endpoint, Provider


class ProviderPool:
    """Builds each provider client on first use (so a missing token only matters where needed).

    With `endpoints` (the sandbox) the pool is sealed: every client is sent to its endpoint only,
    and a provider without one cannot be used."""

    def __init__(
        self,
        declaration: Declaration,
        env: Mapping[str, str],
        endpoints: Mapping[str, Endpoint] | None = None,
    ) -> None:
        self._declaration = declaration
        self._env = env
        self._endpoints = endpoints
        self._clients: dict[str, Provider] = {}
        self._errors: dict[str, ReconcilerError] = {}
        self._lock = threading.Lock()

    def settings(self, name: str) -> dict[str, object]:
        """The effective settings of provider `name` (env defaults were applied at load)."""
        return provider_settings(self._declaration, name)

    def get(self, name: str) -> Provider:
        """The client of provider `name`; re-raises the same error if it cannot be built."""
        with self._lock:
            if name in self._clients:
                return self._clients[name]
            if name in self._errors:
                raise self._errors[name]
            try:
                if self._endpoints is None:
                    client = make_provider(name, self.settings(name), self._env)
                else:
                    endpoint = self._endpoints.get(name)
                    if endpoint is None:
                        raise ConfigError(f"{name} has no emulator, so a sandbox run cannot use it")
                    client = make_provider(name, self.settings(name), self._env, endpoint=endpoint)
            except ReconcilerError as exc:
                self._errors[name] = exc
                raise
            self._clients[name] = client
            return client

    def close(self) -> None:
        """Close every client built."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> ProviderPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
