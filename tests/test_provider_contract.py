"""One contract for every registered provider (the example plugin included), over real HTTP against
the provider's own emulator: create, the provider's member-change strategy (additions and removals),
rename, removal from the declaration, a lost create answer read back, retries and error mapping.

A new provider gets these tests by being registered: the parameters are the registry's names (plus
the example plugin of examples/provider-plugin/, installed for this module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from apply_support import cli, emulator_env, fast_providers, fast_sleep
from plugin_support import NAME as EXAMPLE
from plugin_support import registered

from reconciler.emulator import Emulator
from reconciler.errors import AuthError
from reconciler.planning.diff import update_strategy
from reconciler.planning.plan import STRATEGY_CREATE_THEN_DELETE, STRATEGY_CREATE_THEN_FORGET
from reconciler.providers import make_provider, registry
from reconciler.providers.base import Identity, MemberStrategy, Provider

PROVIDERS = list(dict.fromkeys([*registry.names(), EXAMPLE]))


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugin") / "site"


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest, plugin_dir: Path) -> Iterator[type[Provider]]:
    """Each registered provider's class, the example plugin registered for the duration."""
    with registered(plugin_dir):
        yield registry.get(request.param)


@pytest.fixture
def live(provider: type[Provider], monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator of every provider (the example's included) the environment points at."""
    fast_providers(monkeypatch)
    with Emulator(port=0) as emulator, emulator_env(emulator):
        yield emulator


class Project:
    """A one-audience declaration for `cls` whose members are phones 415-555-01xx."""

    def __init__(self, root: Path, cls: type[Provider]) -> None:
        self.root, self.cls = root, cls
        self.name = "Contract audience"
        self.members = list(range(5))
        self.declared = True

    @property
    def args(self) -> list[str]:
        return ["-c", str(self.root / "audiences.yaml"), "--state", str(self.root / "state")]

    def write(self) -> None:
        columns = {"phone": "Mobile"}
        if "first_name" in self.cls.fields:
            columns["first_name"] = "First"
        audiences: dict[str, Any] = {}
        if self.declared:
            audiences["aud"] = {"provider": self.cls.name, "name": self.name, "source": "data/m.csv",
                                "columns": columns}
        doc = {"version": 1, "defaults": {"phone_region": "US"}, "audiences": audiences}
        (self.root / "audiences.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        (self.root / "data").mkdir(exist_ok=True)
        rows = ["Mobile,First", *(f"(415) 555-{100 + i:04d},P{i}" for i in self.members)]
        (self.root / "data" / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    def plan(self) -> dict[str, Any]:
        result = cli("plan", "--format", "json", *self.args)
        assert result.code == 0, result.err
        changes: list[dict[str, Any]] = json.loads(result.out)["changes"]
        return changes[0] if changes else {}

    def apply(self) -> dict[str, Any]:
        self.write()
        change = self.plan()
        result = cli("apply", "--auto-approve", *self.args)
        assert result.code == 0, result.out + result.err
        return change

    def state(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.root / "state" / "state.json").read_text(encoding="utf-8"))
        return doc["audiences"]


def held(emulator: Emulator, cls: type[Provider], audience_id: str) -> int:
    return len(emulator.members(cls.name, audience_id))


def test_the_contract_covers_every_registered_provider() -> None:
    assert {"commbox", "whop", "smallest", EXAMPLE} <= set(PROVIDERS)


def test_lifecycle(provider: type[Provider], live: Emulator, tmp_path: Path) -> None:
    """create -> members added -> members removed -> renamed -> removed from the declaration."""
    project = Project(tmp_path, provider)
    assert project.apply()["action"] == "create"
    first = project.state()["aud"]["provider_id"]
    assert held(live, provider, first) == 5

    project.members = list(range(7))  # additions only: every member strategy updates in place
    change = project.apply()
    members = provider.capabilities.members
    expected = "append" if members is MemberStrategy.APPEND_OR_RECREATE else update_strategy(provider)
    assert (change["action"], change["strategy"]) == ("update", expected)
    assert project.state()["aud"]["provider_id"] == first and held(live, provider, first) == 7

    project.members = list(range(2, 6))  # removals
    change = project.apply()
    current = project.state()["aud"]["provider_id"]
    if members.resyncs:
        assert (change["action"], current) == ("update", first)
    else:  # an append-only provider rebuilds the audience
        assert change["action"] == "replace" and current != first
        assert all(a.get("id", a.get("_id")) != first for a in live.audiences(provider.name))
    assert held(live, provider, current) == 4

    project.name = "Contract audience renamed"
    change = project.apply()
    renamed = project.state()["aud"]["provider_id"]
    listed = {str(a.get("id", a.get("_id"))): a["name"] for a in live.audiences(provider.name)}
    assert listed[renamed] == project.name
    if provider.capabilities.rename:
        assert (change["strategy"], renamed) == ("patch_rename", current)
    else:
        forget = STRATEGY_CREATE_THEN_DELETE if provider.capabilities.delete else STRATEGY_CREATE_THEN_FORGET
        assert change["strategy"] == forget and renamed != current
        assert (current in listed) is not provider.capabilities.delete

    project.declared = False
    change = project.apply()
    assert change["action"] == ("delete" if provider.capabilities.delete else "forget")
    assert project.state() == {}
    ids = {str(a.get("id", a.get("_id"))) for a in live.audiences(provider.name)}
    assert (renamed in ids) is not provider.capabilities.delete


def test_a_lost_create_answer_is_read_back_not_repeated(
    provider: type[Provider], live: Emulator, tmp_path: Path
) -> None:
    project = Project(tmp_path, provider)
    live.script_fault("drop_after", provider=provider.name, method="POST", times=1)
    project.apply()
    assert [a["name"] for a in live.audiences(provider.name)] == [project.name]
    assert any(r.fault == "drop_after" for r in live.request_log)


def test_throttling_and_server_errors_are_retried(
    provider: type[Provider], live: Emulator, tmp_path: Path
) -> None:
    live.script_fault("429", provider=provider.name, times=1)
    live.script_fault("503", provider=provider.name, times=1)
    project = Project(tmp_path, provider)
    project.apply()
    assert [a["name"] for a in live.audiences(provider.name)] == [project.name]
    statuses = [r.status for r in live.request_log if r.provider == provider.name]
    assert 429 in statuses and 503 in statuses


def test_errors_map_to_the_exception_tree(provider: type[Provider], live: Emulator) -> None:
    env = live.env()
    with make_provider(provider.name, {}, env, sleep=fast_sleep) as client:
        assert client.read("no-such-audience-123") is None  # unknown: None, not an error
        assert client.list_audiences() == []
    wrong = {**env, provider.token_env: "not-the-token"}
    with (
        make_provider(provider.name, {}, wrong, sleep=fast_sleep) as client,
        pytest.raises(AuthError, match=provider.token_env) as info,
    ):
        client.list_audiences()
    assert "not-the-token" not in str(info.value)
    without = {k: v for k, v in env.items() if k != provider.token_env}
    with pytest.raises(AuthError, match=provider.token_env):
        make_provider(provider.name, {}, without)


def test_the_profile_is_complete(provider: type[Provider]) -> None:
    assert provider.title and provider.token_env and provider.base_url_env and provider.default_base_url
    assert provider.identity in Identity and provider.capabilities.members in MemberStrategy
    assert "phone" in provider.fields or provider.identity is Identity.PHONE_OR_EMAIL
    assert provider.emulator, "every provider ships an emulator (the sandbox and these tests need it)"
    headers = provider.upload_headers({f: f.upper() for f in provider.fields})
    assert headers and set(headers) <= set(provider.fields)
