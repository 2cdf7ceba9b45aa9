"""`Emulator`: the three providers on one loopback port, with inspection and test hooks."""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.emulator.base import Context, ProviderApi
from reconciler.emulator.commbox import CommboxApi
from reconciler.emulator.faults import FaultDecider, FaultKind, Faults, ScriptedFault
from reconciler.emulator.server import PREFIXES, EmulatorServer, LoggedRequest, RequestLog, Router
from reconciler.emulator.smallest import SmallestApi
from reconciler.emulator.whop import Outcome, WhopApi

PROVIDERS = ("commbox", "whop", "smallest")
DEFAULT_TOKENS: dict[str, str] = {
    "commbox": "emulator-commbox-token",
    "whop": "emulator-whop-token",
    "smallest": "emulator-smallest-token",
}
DEFAULT_WHOP_ACCOUNT = "biz_emulator"
ENV_NAMES = {
    "commbox": ("COMMBOX_BASE_URL", "COMMBOX_API_TOKEN"),
    "whop": ("WHOP_BASE_URL", "WHOP_API_KEY"),
    "smallest": ("SMALLEST_BASE_URL", "SMALLEST_API_KEY"),
}


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (the only hosts the emulator may bind)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Emulator:
    """A stateful local emulator of CommBox, Whop and Smallest AI Atoms.

    Use as a context manager or with start()/stop(). `port=0` picks a free port.
    `polls_per_step` is how many reads advance a Whop file or audience one status step.
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
        whop_outcome: Outcome = "ready",
        on_request: Callable[[LoggedRequest], None] | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the emulator only binds loopback addresses, not {host!r}")
        if polls_per_step < 1:
            raise ValueError("polls_per_step must be at least 1")
        self.host, self._port, self.seed = host, port, seed
        self.tokens: dict[str, str] = {**DEFAULT_TOKENS, **(tokens or {})}
        self._tmp = Path(tempfile.mkdtemp(prefix="reconciler-emulator-"))
        self.ctx = Context(self._tmp, seed=seed, polls_per_step=polls_per_step)
        self.commbox = CommboxApi(self.ctx, self.tokens["commbox"])
        self.whop = WhopApi(self.ctx, self.tokens["whop"], whop_outcome)
        self.smallest = SmallestApi(self.ctx, self.tokens["smallest"])
        self._apis: dict[str, ProviderApi] = {
            "commbox": self.commbox,
            "whop": self.whop,
            "smallest": self.smallest,
        }
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

    @property
    def base_urls(self) -> dict[str, str]:
        """Each provider's base URL."""
        return {name: self.root_url + prefix for name, prefix in PREFIXES.items()}

    def env(self) -> dict[str, str]:
        """The environment a client needs: base URLs, tokens, and a Whop account id."""
        out: dict[str, str] = {}
        for name, (url_var, token_var) in ENV_NAMES.items():
            out[url_var] = self.base_urls[name]
            out[token_var] = self.tokens[name]
        out["WHOP_ACCOUNT_ID"] = DEFAULT_WHOP_ACCOUNT
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
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        return self._apis[provider]

    # -- changes behind the tool's back ----------------------------------------------------------

    def add_commbox_dynamic(self, name: str) -> str:
        """Create a CommBox Dynamic audience (a UI saved filter); returns its id."""
        return self.commbox.add_dynamic(name)

    def rename_audience(self, provider: str, audience_id: str, name: str) -> None:
        """Rename an audience at the provider."""
        self._api(provider).rename(audience_id, name)

    def delete_audience(self, provider: str, audience_id: str) -> None:
        """Delete an audience at the provider (even where the API cannot)."""
        self._api(provider).remove(audience_id)

    def set_smallest_has_campaigns(self, audience_id: str, value: bool = True) -> None:
        """Mark a Smallest audience as used by a campaign: its DELETE then answers 400."""
        self.smallest.set_has_campaigns(audience_id, value)

    def set_next_whop_outcome(self, outcome: Outcome, error_message: str | None = None) -> None:
        """Outcome of the next Whop audience processing: ready, partial or failed."""
        self.whop.set_next_outcome(outcome, error_message)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (e.g. past the 1-hour upload URL expiry)."""
        self.ctx.clock_offset += seconds
