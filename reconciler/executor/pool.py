"""Provider clients for one run, built lazily once per provider and closed at the end."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType

from reconciler.config.model import Declaration
from reconciler.errors import ReconcilerError
from reconciler.planning.records import provider_settings
from reconciler.providers import make_provider
from reconciler.providers.base import Provider


class ProviderPool:
    """Builds each provider client on first use (so a missing token only matters where needed)."""

    def __init__(self, declaration: Declaration, env: Mapping[str, str]) -> None:
        self._declaration = declaration
        self._env = env
        self._clients: dict[str, Provider] = {}
        self._errors: dict[str, ReconcilerError] = {}
        self._lock = threading.Lock()

    def settings(self, name: str) -> dict[str, object]:
        """The effective settings of provider `name` (the declaration's, with env defaults)."""
        return provider_settings(self._declaration, name, self._env)

    def get(self, name: str) -> Provider:
        """The client of provider `name`; re-raises the same error if it cannot be built."""
        with self._lock:
            if name in self._clients:
                return self._clients[name]
            if name in self._errors:
                raise self._errors[name]
            try:
                client = make_provider(name, self.settings(name), self._env)
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
