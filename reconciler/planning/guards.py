"""Safety guards over planned changes. Pure: no I/O.

  shrink  - an update/replace that removes more than `spec.max_shrink` of an audience of at least
            `spec.shrink_min_members` members, unless `--allow-shrink KEY`;
  protect - a replace/delete/forget of a `protect: true` audience (from the declaration, or from the
            state's `extra["protect"]` for audiences removed from it), unless `--allow-destroy KEY`.
A refusal sets `Change.guard`; the plan still lists the change, and `plan` exits 3.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reconciler.config.model import AudienceSpec
from reconciler.planning.plan import Action, Change, Guard
from reconciler.state.store import State

_DESTRUCTIVE = (Action.REPLACE, Action.DELETE, Action.FORGET)
_SHRINKING = (Action.UPDATE, Action.REPLACE)
_VERB = {Action.REPLACE: "replace", Action.DELETE: "delete", Action.FORGET: "forget"}


def _protected(change: Change, specs: Mapping[str, AudienceSpec], state: State) -> bool:
    spec = specs.get(change.address)
    if spec is not None:
        return spec.protect
    entry = state.audiences.get(change.address)
    return bool(entry is not None and entry.extra.get("protect", False))


def _protect_refusal(change: Change) -> Guard:
    return Guard(
        rule="protect",
        message=f"{change.address} is protected (protect: true); the plan would {_VERB[change.action]} it",
        allow_flag=f"--allow-destroy {change.address}",
    )


def _shrink_refusal(change: Change, spec: AudienceSpec) -> Guard | None:
    before, removed = change.members.before, change.members.removed
    if before < spec.shrink_min_members or before == 0 or removed / before <= spec.max_shrink:
        return None
    return Guard(
        rule="shrink",
        message=(
            f"{change.address} would lose {removed:,} of {before:,} members ({removed / before:.0%}; "
            f"the limit is {spec.max_shrink:.0%})"
        ),
        allow_flag=f"--allow-shrink {change.address}",
    )


def apply_guards(
    changes: list[Change],
    specs: Mapping[str, AudienceSpec],
    state: State,
    *,
    allow_shrink: Collection[str] = (),
    allow_destroy: Collection[str] = (),
) -> list[Change]:
    """Set `guard` on every change a guard refuses (clearing earlier verdicts); return the refused."""
    refused: list[Change] = []
    for change in changes:
        change.guard = None
        found: list[Guard] = []
        if (
            change.action in _DESTRUCTIVE
            and change.address not in allow_destroy
            and _protected(change, specs, state)
        ):
            found.append(_protect_refusal(change))
        spec = specs.get(change.address)
        if change.action in _SHRINKING and spec is not None and change.address not in allow_shrink:
            shrink = _shrink_refusal(change, spec)
            if shrink is not None:
                found.append(shrink)
        if found:
            change.guard = Guard(
                rule=",".join(g.rule for g in found),
                message="; ".join(g.message for g in found),
                allow_flag=" ".join(g.allow_flag for g in found),
            )
            refused.append(change)
    return refused
