"""`Emulator`: every registered provider's emulator on one loopback port, with inspection and
test hooks. Which providers it serves comes from the registry (`Provider.emulator`)."""

from __future__ import annotations

import importlib
import ipaddress
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.faults import FaultDecider, FaultKind, Faults, ScriptedFault
from reconciler.emulator.server import EmulatorServer, LoggedRequest, RequestLog, Router
from reconciler.providers import registry
from reconciler.providers.base import Endpoint


def emulated() -> dict[str, type[ProviderApi]]:
    """The emulator class of every registered provider that names one ("module:Class")."""
    found: dict[str, type[ProviderApi]] = {}
    for name, cls in registry.providers().items():
        if cls.emulator:
            module, _, attribute = cls.emulator.partition(":")
            api = getattr(importlib.import_module(module), attribute)
            if not (isinstance(api, type) and issubclass(api, ProviderApi)):
                raise TypeError(f"{cls.emulator} (the emulator of {name}) is not a ProviderApi class")
            found[name] = api
    return found


def default_tokens() -> dict[str, str]:
    """The token each emulated provider accepts unless told otherwise."""
    return {name: f"emulator-{name}-token" for name in emulated()}


DEFAULT_TOKENS: dict[str, str] = default_tokens()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (the only hosts the emulator may bind)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Emulator:
    """A stateful local emulator of every registered provider that has one.

    Use as a context manager or with start()/stop(). `port=0` picks a free port.
    `polls_per_step` is how many reads advance an asynchronous status one step; other keyword
    `options` go to each provider's emulator (`ProviderApi.configure`). Each provider's
    emulator is also an attribute named after the provider (`emulator.<name>`).
    """

    def __init__(
        self,
        port: int = 0,
        faults: Faults | None = None,
        tokens: dict[str, str] | None = None,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        polls_per_step: int = 1,
        on_request: Callable[[LoggedRequest], None] | None = None,
        **options: Any,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the emulator only binds loopback addresses, not {host!r}")
        if polls_per_step < 1:
            raise ValueError("polls_per_step must be at least 1")
        self.host, self._port, self.seed = host, port, seed
        classes = emulated()
        self.tokens: dict[str, str] = {**default_tokens(), **(tokens or {})}
        self._tmp = Path(tempfile.mkdtemp(prefix="reconciler-emulator-"))
        self.ctx = Context(self._tmp, seed=seed, polls_per_step=polls_per_step)
        self._apis: dict[str, ProviderApi] = {
            name: api(self.ctx, self.tokens[name]) for name, api in classes.items()
        }
        for api in self._apis.values():
            api.configure(options)  # provider-specific options, e.g. how asynchronous processing ends
        self._decider = FaultDecider(faults or Faults(), seed)
        self._log = RequestLog(on_request)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = EmulatorServer(self.host, self._port, Router(self._apis, self._decider, self._log))
        self._port = self._server.server_address[1]
        self.ctx.root_url = f"http://{self._url_host}:{self._port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by `reconciler emulate`)."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        """Stop serving and delete every uploaded file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials --------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        return self._port

    @property
    def root_url(self) -> str:
        """http://HOST:PORT, without a provider prefix."""
        return f"http://{self._url_host}:{self._port}"

    def __getattr__(self, name: str) -> Any:
        """`emulator.<provider>`: that provider's emulator (e.g. for its test hooks)."""
        apis = self.__dict__.get("_apis") or {}
        if name in apis:
            return apis[name]
        raise AttributeError(name)

    @property
    def providers(self) -> tuple[str, ...]:
        """The names of the providers served."""
        return tuple(self._apis)

    @property
    def base_urls(self) -> dict[str, str]:
        """Each provider's base URL."""
        return {name: self.root_url + api.prefix for name, api in self._apis.items()}

    def endpoints(self) -> dict[str, Endpoint]:
        """Each provider's endpoint here: base URL and token (what a sandbox run is given)."""
        return {name: Endpoint(self.base_urls[name], self.tokens[name]) for name in self._apis}

    def settings_env(self) -> dict[str, str]:
        """Environment defaults of the provider settings the emulators expect (an account id)."""
        out: dict[str, str] = {}
        for name, api in self._apis.items():
            cls = registry.get(name)
            for key, value in api.settings.items():
                setting = cls.settings.get(key)
                if setting is not None and setting.env:
                    out[setting.env] = value
        return out

    def env(self) -> dict[str, str]:
        """The environment a client needs: base URLs, tokens, and the settings defaults."""
        out: dict[str, str] = {}
        for name, endpoint in self.endpoints().items():
            cls = registry.get(name)
            out[cls.base_url_env] = endpoint.base_url
            out[cls.token_env] = endpoint.token
        out.update(self.settings_env())
        return out

    # -- faults and log --------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The current fault settings (assignable at any time)."""
        return self._decider.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._decider.faults = value

    def script_fault(
        self,
        kind: FaultKind,
        *,
        provider: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> None:
        """Force `kind` ("429", "500", "503", "drop", "drop_after", "slow") on the next matching calls."""
        self._decider.script(ScriptedFault(kind, provider, method, path_contains, times))

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every request so far (a copy)."""
        return self._log.items()

    def clear_log(self) -> None:
        """Forget the logged requests."""
        self._log.clear()

    # -- inspection ------------------------------------------------------------------------------

    def audiences(self, provider: str) -> list[dict[str, Any]]:
        """Stored audiences of `provider`, as that provider lists them (plus a few extras)."""
        return self._api(provider).audiences()

    def members(self, provider: str, audience_id: str) -> list[dict[str, str]]:
        """Stored members of one audience (KeyError if unknown)."""
        return self._api(provider).members(audience_id)

    def _api(self, provider: str) -> ProviderApi:
        if provider not in self._apis:
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(self._apis)}")
        return self._apis[provider]

    # -- changes behind the tool's back ----------------------------------------------------------

    def add_commbox_dynamic(self, name: str) -> str:
        """Create a CommBox Dynamic audience (a UI saved filter); returns its id."""
        return str(self.commbox.add_dynamic(name))

    def rename_audience(self, provider: str, audience_id: str, name: str) -> None:
        """Rename an audience at the provider."""
        self._api(provider).rename(audience_id, name)

    def delete_audience(self, provider: str, audience_id: str) -> None:
        """Delete an audience at the provider (even where the API cannot)."""
        self._api(provider).remove(audience_id)

    def set_smallest_has_campaigns(self, audience_id: str, value: bool = True) -> None:
        """Mark a Smallest audience as used by a campaign: its DELETE then answers 400."""
        self.smallest.set_has_campaigns(audience_id, value)

    def set_next_whop_outcome(self, outcome: str, error_message: str | None = None) -> None:
        """Outcome of the next Whop audience processing: ready, partial or failed."""
        self.whop.set_next_outcome(outcome, error_message)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (e.g. past the 1-hour upload URL expiry)."""
        self.ctx.clock_offset += seconds
