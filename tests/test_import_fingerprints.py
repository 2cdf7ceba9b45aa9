"""import's member fingerprints: an adopted audience compares with its source as the provider sees it."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from reconciler.commands.import_ import adopted_fingerprints, project
from reconciler.sources import fingerprint
from reconciler.sources.members import Member, MemberSet

KEY = b"k" * 32
STORED = ("phone", "identifier")  # what Smallest keeps

names = st.one_of(st.none(), st.text(min_size=1, max_size=5))
members = st.builds(
    Member,
    phone=st.integers(14155550000, 14155559999).map(lambda n: f"+{n}"),
    first_name=names,
    last_name=names,
    identifier=names,
)
member_lists = st.lists(members, max_size=20, unique_by=lambda m: m.phone)


def source_set(source: list[Member]) -> MemberSet:
    return MemberSet.from_pairs(fingerprint(m, KEY) for m in source)


@given(member_lists)
def test_provider_copy_of_the_source_fingerprints_exactly_like_the_source(source: list[Member]) -> None:
    remote = [project(m, STORED) for m in reversed(source)]
    assert adopted_fingerprints(remote, source, STORED, KEY).digest() == source_set(source).digest()


@given(member_lists, st.data())
def test_only_true_differences_remain(source: list[Member], data: st.DataObject) -> None:
    remote = [project(m, STORED) for m in source]
    changed = data.draw(st.sets(st.integers(0, max(len(source) - 1, 0)))) if source else set()
    dropped = data.draw(st.sets(st.integers(0, max(len(source) - 1, 0)))) if source else set()
    extra = Member(phone="+15555550000", identifier="x")
    edited = [
        replace(m, identifier=(m.identifier or "") + "!") if i in changed else m
        for i, m in enumerate(remote)
        if i not in dropped or i in changed
    ] + [extra]
    adopted = adopted_fingerprints(edited, source, STORED, KEY)
    added, removed, attrs = source_set(source).diff(adopted)
    assert (added, removed, attrs) == (len(dropped - changed), 1, len(changed))


def test_project_keeps_only_the_stored_fields() -> None:
    member = Member(phone="+14155550101", email="a@example.com", first_name="Ann", identifier="7")
    assert project(member, STORED) == Member(phone="+14155550101", identifier="7")
