"""Every provider operation end to end against the local emulator over real loopback HTTP,
including injected faults (throttling, dropped answers) and the refusals users rely on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_providers_support import spec

from reconciler.emulator import Emulator, Faults
from reconciler.errors import AuthError, CapabilityError, ProviderError
from reconciler.providers import make_provider
from reconciler.providers.base import Provider
from reconciler.sources import Member, UploadFile, render_upload

PEOPLE = [
    Member(phone="+14155550123", first_name="Ann"),
    Member(phone="+442079832100", first_name="Bo"),
    Member(phone="+14155550124", first_name="Cy"),
]
COLUMNS = {"phone": "Mobile", "first_name": "First"}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0, faults=Faults()) as emu:
        yield emu


def connect(emu: Emulator, name: str, sleeps: list[float] | None = None) -> Provider:
    record = sleeps if sleeps is not None else []
    return make_provider(name, {}, emu.env(), sleep=record.append)


def render(tmp_path: Path, provider: str, members: list[Member], tag: str = "a") -> UploadFile:
    return render_upload(spec(provider, COLUMNS), members, tmp_path / f"{provider}-{tag}.csv")


def calls(emu: Emulator, method: str, contains: str) -> int:
    return sum(1 for r in emu.request_log if r.method == method and contains in r.path)


# ----------------------------------------------------------------------------- CommBox


def test_commbox_create_list_read_replace(emulator: Emulator, tmp_path: Path) -> None:
    with connect(emulator, "commbox") as prov:
        made = prov.create(spec("commbox", COLUMNS), render(tmp_path, "commbox", PEOPLE), idempotency_key="k")
        listed = {a.id: a for a in prov.list_audiences()}
        assert listed[made.id].name == "VIP customers" and listed[made.id].kind == "Static"
        assert listed[made.id].member_count == 3
        prov.replace_members(made.id, render(tmp_path, "commbox", PEOPLE[:1], "b"))
        read = prov.read(made.id)
        assert read is not None and read.member_count == 1
        assert len(emulator.members("commbox", made.id)) == 1
        assert prov.read("000000") is None


def test_commbox_refuses_dynamic_without_put(emulator: Emulator, tmp_path: Path) -> None:
    dynamic = emulator.add_commbox_dynamic("Saved filter")
    with connect(emulator, "commbox") as prov:
        read = prov.read(dynamic)
        assert read is not None and read.kind == "Dynamic"
        with pytest.raises(CapabilityError, match="Dynamic"):
            prov.replace_members(dynamic, render(tmp_path, "commbox", PEOPLE))
    assert calls(emulator, "PUT", "udiences") == 0


def test_commbox_create_answer_lost_is_settled_without_a_duplicate(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.script_fault("drop_after", provider="commbox", method="POST", path_contains="audiences")
    with connect(emulator, "commbox") as prov:
        made = prov.create(spec("commbox", COLUMNS), render(tmp_path, "commbox", PEOPLE), idempotency_key="k")
    names = [a for a in emulator.audiences("commbox") if a["name"] == "VIP customers"]
    assert len(names) == 1 and str(names[0]["id"]) == made.id
    assert calls(emulator, "POST", "audiences") == 1


def test_commbox_throttling_is_retried(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script_fault("429", provider="commbox", method="GET", times=2)
    sleeps: list[float] = []
    with connect(emulator, "commbox", sleeps) as prov:
        prov.list_audiences()
    assert len(sleeps) == 2


def test_bad_token_is_an_auth_error_naming_the_variable(emulator: Emulator) -> None:
    for name, var in (
        ("commbox", "COMMBOX_API_TOKEN"),
        ("whop", "WHOP_API_KEY"),
        ("smallest", "SMALLEST_API_KEY"),
    ):
        env = {**emulator.env(), var: "tok-SECRET-123"}
        with make_provider(name, {}, env) as prov, pytest.raises(AuthError, match=f"check {var}") as info:
            prov.list_audiences()
        assert "tok-SECRET-123" not in str(info.value)


# ----------------------------------------------------------------------------- Whop


def test_whop_create_append_rename_delete(emulator: Emulator, tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    with connect(emulator, "whop") as prov:
        the_spec = spec("whop", COLUMNS)
        made = prov.create(
            the_spec, render(tmp_path, "whop", PEOPLE[:2]), idempotency_key="intent-1",
            progress=lambda d, t: progress.append((d, t)),
        )  # fmt: skip
        assert made.status == "ready" and made.member_count == 2 and made.id.startswith("adaud_")
        assert progress
        grown = prov.append_members(
            made.id, the_spec, render(tmp_path, "whop", PEOPLE[2:], "b"), idempotency_key="intent-2"
        )
        assert grown.status == "ready" and grown.member_count == 3
        assert len(emulator.members("whop", made.id)) == 3
        prov.rename(made.id, "Renamed")
        read = prov.read(made.id)
        assert read is not None and read.name == "Renamed"
        assert [a.id for a in prov.list_audiences()] == [made.id]
        prov.delete(made.id)
        assert prov.read(made.id) is None
        prov.delete(made.id)  # deleting again is harmless


def test_whop_partial_and_failed_outcomes(emulator: Emulator, tmp_path: Path) -> None:
    with connect(emulator, "whop") as prov:
        emulator.set_next_whop_outcome("partial", "2 rows could not be matched")
        made = prov.create(spec("whop", COLUMNS), render(tmp_path, "whop", PEOPLE), idempotency_key="p")
        assert made.status == "partial" and made.usable and made.error_message
        emulator.set_next_whop_outcome("failed", "file could not be parsed")
        with pytest.raises(ProviderError, match="file could not be parsed"):
            prov.create(
                spec("whop", COLUMNS, name="Other"),
                render(tmp_path, "whop", PEOPLE, "b"),
                idempotency_key="f",
            )


def test_whop_lost_create_answer_is_retried_with_the_same_key(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script_fault("drop_after", provider="whop", method="POST", path_contains="/audiences")
    with connect(emulator, "whop") as prov:
        prov.create(spec("whop", COLUMNS), render(tmp_path, "whop", PEOPLE), idempotency_key="intent-7")
    assert len(emulator.audiences("whop")) == 1
    keys = {
        r.idempotency_key
        for r in emulator.request_log
        if r.method == "POST" and r.path.endswith("/audiences")
    }
    assert keys == {"intent-7"}


def test_whop_expired_upload_url_starts_over(emulator: Emulator, tmp_path: Path) -> None:
    with connect(emulator, "whop") as prov:
        original = prov.http.upload  # type: ignore[attr-defined]
        expired = {"done": False}

        def late_upload(*args: object, **kwargs: object) -> object:
            if not expired["done"]:
                expired["done"] = True
                emulator.advance_clock(3601)  # the presigned URL has expired by the time we PUT
            return original(*args, **kwargs)

        prov.http.upload = late_upload  # type: ignore[attr-defined]
        made = prov.create(spec("whop", COLUMNS), render(tmp_path, "whop", PEOPLE), idempotency_key="x")
    assert made.status == "ready"
    assert calls(emulator, "POST", "/files") == 2


# ----------------------------------------------------------------------------- Smallest


def test_smallest_create_iterate_add_remove_delete(emulator: Emulator, tmp_path: Path) -> None:
    the_spec = spec("smallest", COLUMNS)
    with connect(emulator, "smallest") as prov:
        made = prov.create(the_spec, render(tmp_path, "smallest", PEOPLE[:2]), idempotency_key="k")
        read = prov.read(made.id)
        assert read is not None and read.member_count == 2
        listed = list(prov.iter_members(made.id, the_spec))
        assert sorted(m.phone or "" for _, m in listed) == sorted(p.phone or "" for p in PEOPLE[:2])
        assert prov.add_members(made.id, the_spec, PEOPLE) == 1  # two were already there
        gone = [mid for mid, m in prov.iter_members(made.id, the_spec) if m.phone == "+442079832100"]
        assert prov.remove_members(made.id, gone) == 1
        phones = sorted(m.phone or "" for _, m in prov.iter_members(made.id, the_spec))
        assert phones == ["+14155550123", "+14155550124"]
        assert [a.member_count for a in prov.list_audiences() if a.id == made.id] == [2]
        prov.delete(made.id)
        assert prov.read(made.id) is None


def test_smallest_members_listing_pages(emulator: Emulator, tmp_path: Path) -> None:
    many = [Member(phone=f"+1415555{i:04d}") for i in range(1_203)]
    the_spec = spec("smallest", {"phone": "Mobile"})
    with connect(emulator, "smallest") as prov:
        made = prov.create(
            the_spec, render_upload(the_spec, many, tmp_path / "many.csv"), idempotency_key="k"
        )
        listed = list(prov.iter_members(made.id, the_spec))
    assert len(listed) == 1_203 and len({mid for mid, _ in listed}) == 1_203
    assert calls(emulator, "GET", "/members") == 3


def test_smallest_delete_refused_while_a_campaign_uses_it(emulator: Emulator, tmp_path: Path) -> None:
    with connect(emulator, "smallest") as prov:
        made = prov.create(
            spec("smallest", COLUMNS), render(tmp_path, "smallest", PEOPLE), idempotency_key="k"
        )
        emulator.set_smallest_has_campaigns(made.id)
        with pytest.raises(ProviderError, match="a campaign uses it"):
            prov.delete(made.id)
        assert prov.read(made.id) is not None


def test_smallest_create_answer_lost_is_settled_without_a_duplicate(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.script_fault("drop_after", provider="smallest", method="POST", path_contains="audience")
    with connect(emulator, "smallest") as prov:
        made = prov.create(
            spec("smallest", COLUMNS), render(tmp_path, "smallest", PEOPLE), idempotency_key="k"
        )
    assert [a["_id"] for a in emulator.audiences("smallest")] == [made.id]


# ----------------------------------------------------------------------------- under random faults

FLAKY = Faults(rate_429=0.1, rate_5xx=0.1, rate_drop=0.05, drop_after_processing=0.1, retry_after=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_provider_reaches_the_right_end_state_under_random_faults(tmp_path: Path, seed: int) -> None:
    with Emulator(port=0, faults=FLAKY, seed=seed) as emu:
        with connect(emu, "commbox") as commbox:
            made = commbox.create(
                spec("commbox", COLUMNS), render(tmp_path, "commbox", PEOPLE), idempotency_key="c"
            )
            commbox.replace_members(made.id, render(tmp_path, "commbox", PEOPLE[:2], "b"))
        assert len(emu.audiences("commbox")) == 1 and len(emu.members("commbox", made.id)) == 2

        with connect(emu, "whop") as whop:
            the_spec = spec("whop", COLUMNS)
            made = whop.create(the_spec, render(tmp_path, "whop", PEOPLE[:2]), idempotency_key="w1")
            whop.append_members(
                made.id, the_spec, render(tmp_path, "whop", PEOPLE[2:], "b"), idempotency_key="w2"
            )
            whop.rename(made.id, "Renamed")
        [stored] = emu.audiences("whop")
        assert stored["name"] == "Renamed" and len(emu.members("whop", made.id)) == 3

        with connect(emu, "smallest") as smallest:
            the_spec = spec("smallest", COLUMNS)
            made = smallest.create(the_spec, render(tmp_path, "smallest", PEOPLE[:2]), idempotency_key="s")
            smallest.add_members(made.id, the_spec, PEOPLE)
            drop = [mid for mid, m in smallest.iter_members(made.id, the_spec) if m.phone == "+14155550123"]
            smallest.remove_members(made.id, drop)
            phones = sorted(m.phone or "" for _, m in smallest.iter_members(made.id, the_spec))
        assert len(emu.audiences("smallest")) == 1
        assert phones == ["+14155550124", "+442079832100"]
        faults = [r for r in emu.request_log if r.fault]
        assert faults  # the run really met faults
