"""`reconciler import KEY ID`: adopt an existing provider audience into state."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Iterable, Mapping

from reconciler import console
from reconciler.app import (
    add_config_flags,
    add_lock_timeout_flag,
    load_declared,
    lock_timeout,
    open_providers,
    open_state,
    state_lock,
)
from reconciler.config.model import MAPPABLE_FIELDS, AudienceSpec
from reconciler.errors import CapabilityError, NotFoundError, StateError, UsageError
from reconciler.planning.records import applied_entry, provider_settings
from reconciler.providers.base import Provider, RemoteAudience
from reconciler.sources import fingerprint, iter_members, upload_headers
from reconciler.sources.members import Member, MemberSet
from reconciler.state.backend import StateBackend
from reconciler.state.store import AudienceState, State


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="adopt an existing provider audience into state",
        description="Adopt an existing audience at the provider declared for KEY into state, so the "
        "next plan updates it instead of creating a new one.",
    )
    add_flags(parser)
    parser.set_defaults(func=run)


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser)
    add_lock_timeout_flag(parser)
    parser.add_argument("key", metavar="KEY", help="audience key, as declared in the config")
    parser.add_argument("id", metavar="ID", help="the audience's id at its provider")
    parser.add_argument(
        "--allow-name-mismatch",
        action="store_true",
        help="adopt even if the provider's name differs from the declared one (the next plan renames "
        "or replaces it)",
    )


def check_unmanaged(state: State, spec: AudienceSpec, audience_id: str) -> None:
    """Refuse when KEY is already in state or the audience is managed under another key."""
    key = spec.key
    if key in state.audiences:
        held = state.audiences[key]
        raise StateError(
            f"{key} is already in state as {held.provider} audience {held.provider_id}; "
            f"run `reconciler state rm {key}` first to adopt another one"
        )
    for other in state.audiences.values():
        if other.provider == spec.provider and other.provider_id == audience_id:
            raise StateError(f"{spec.provider} audience {audience_id} is already managed as {other.key}")


def check_adoptable(
    spec: AudienceSpec,
    remote: RemoteAudience | None,
    audience_id: str,
    *,
    allow_name_mismatch: bool,
) -> RemoteAudience:
    """Refuse to adopt an audience that is missing, Dynamic, failed or (unless allowed) named
    otherwise than declared; the remote audience on success."""
    key = spec.key
    if remote is None:
        raise NotFoundError(
            f"no audience {audience_id} (the provider declared for {key} is {spec.provider})",
            provider=spec.provider,
            status=404,
        )
    if remote.kind is not None and remote.kind.lower() == "dynamic":
        raise CapabilityError(
            f"audience {audience_id} is Dynamic; only Static audiences can be managed", provider=spec.provider
        )
    if remote.status.lower() == "failed":
        detail = f" ({remote.error_message})" if remote.error_message else ""
        raise CapabilityError(f"audience {audience_id} has status failed{detail}", provider=spec.provider)
    if remote.name != spec.name and not allow_name_mismatch:
        where = f" ({spec.location})" if spec.location else ""
        raise UsageError(
            f"{spec.provider} audience {audience_id} is named {remote.name!r} but {key}{where} declares "
            f"{spec.name!r}; pass --allow-name-mismatch to adopt it anyway "
            "(the next plan renames or replaces it)"
        )
    return remote


def project(member: Member, fields: Collection[str]) -> Member:
    """`member` with only `fields` kept: what a provider that stores just those fields can hold."""
    return dataclasses.replace(member, **{f: None for f in MAPPABLE_FIELDS if f not in fields})


def adopted_fingerprints(
    remote: Iterable[Member], source: Iterable[Member], stored: Collection[str], key: bytes
) -> MemberSet:
    """Fingerprints of an adopted audience's members, comparable with the source's.

    The provider keeps only the `stored` fields, so a remote member whose stored fields agree with
    the source's member of the same identity takes the source's attribute fingerprint (the fields
    the provider cannot hold are not a difference it can show); any other member keeps the
    fingerprint of what the provider holds, which the next plan then reports as changed or removed."""
    from_source: dict[int, tuple[int, int]] = {}
    for member in source:
        ident, attrs = fingerprint(member, key)
        from_source.setdefault(ident, (fingerprint(project(member, stored), key)[1], attrs))
    pairs: list[tuple[int, int]] = []
    for member in remote:
        ident, attrs = fingerprint(project(member, stored), key)
        known = from_source.get(ident)
        pairs.append((ident, known[1] if known is not None and known[0] == attrs else attrs))
    return MemberSet.from_pairs(pairs)


def remote_members(provider: Provider, spec: AudienceSpec, audience_id: str, key: bytes) -> MemberSet | None:
    """The audience's members as keyed fingerprints when the provider can list them, else None."""
    if not provider.capabilities.list_members:
        return None
    listing = (member for _, member in provider.iter_members(audience_id, spec))
    return adopted_fingerprints(listing, iter_members(spec), tuple(upload_headers(spec)), key)


def adopted_entry(
    spec: AudienceSpec, settings: Mapping[str, object], remote: RemoteAudience, members: MemberSet | None
) -> AudienceState:
    """The state entry recording an adopted audience as if the tool had applied it under the provider's
    name: the next plan shows only the member change (and the rename when the names differ).

    Members unknown (not listable): an empty set with the provider's count."""
    as_found = dataclasses.replace(spec, name=remote.name)
    return applied_entry(
        as_found,
        settings,
        remote.id,
        members,
        member_count=remote.member_count,
        extra={"imported": True, "members_known": members is not None},
    )


def run(args: argparse.Namespace) -> int:
    with open_state(args) as store:
        return _run(args, store)


def _run(args: argparse.Namespace, store: StateBackend) -> int:
    project = load_declared(args, store)
    spec = project.declaration.audiences.get(args.key)
    if spec is None:
        declared = ", ".join(sorted(project.declaration.audiences)) or "none"
        config = project.declaration.path.name
        raise UsageError(f"{args.key} is not declared in {config} (declared: {declared})")
    with state_lock(project.store, "import", lock_timeout(args)):
        state = project.store.load()
        check_unmanaged(state, spec, args.id)
        with open_providers(project.declaration, [spec.provider]) as clients:
            provider = clients[spec.provider]
            found = provider.read(args.id)
            remote = check_adoptable(spec, found, args.id, allow_name_mismatch=args.allow_name_mismatch)
            members = remote_members(provider, spec, remote.id, project.store.fingerprint_key(state))
        settings = provider_settings(project.declaration, spec.provider)
        entry = adopted_entry(spec, settings, remote, members)
        state.audiences[spec.key] = entry
        project.store.save(state, {spec.key: members} if members is not None else None)
    known = (
        f"{entry.member_count:,} members fingerprinted"
        if members is not None
        else (
            f"{entry.member_count:,} members at the provider, not listable: the next plan sends the full list"
        )
    )
    console.stdout().print(
        f"Imported {spec.provider} audience {remote.id} ({remote.name!r}) as {spec.key}: {known}.",
        markup=False,
        highlight=False,
    )
    return 0
