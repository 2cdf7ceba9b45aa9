"""The fingerprint key of a state: RECONCILER_FINGERPRINT_KEY when set, else the state's own secret.

Shared by every state backend; `where` names the state in messages (a path or a workspace).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from reconciler.errors import StateError
from reconciler.state.data import State, has_fingerprints

FINGERPRINT_KEY_ENV = "RECONCILER_FINGERPRINT_KEY"
_KEY_CHECK_MESSAGE = b"reconciler fingerprint key check v1"


def key_check(key: bytes) -> str:
    """The check value stored instead of an env-supplied fingerprint key."""
    return hmac.new(key, _KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()


def resolve_fingerprint_key(state: State, where: str) -> bytes:
    """The fingerprint key: RECONCILER_FINGERPRINT_KEY if set, else the state's own secret.

    Records what a save must persist in `state`: a new random secret for a state that has
    none, or, when the env var is used, its check value (and drops a stored secret equal to it).
    StateError when the state's fingerprints were made with another key."""
    env = os.environ.get(FINGERPRINT_KEY_ENV, "")
    has_fps = has_fingerprints(state)
    if env:
        key = env.encode("utf-8")
        check = key_check(key)
        if has_fps and (
            (state.fingerprint_key_check and not hmac.compare_digest(check, state.fingerprint_key_check))
            or (state.fingerprint_key and not hmac.compare_digest(key, state.fingerprint_key.encode()))
        ):
            origin = (
                f"the key stored in {where}"
                if state.fingerprint_key
                else f"a different {FINGERPRINT_KEY_ENV}"
            )
            raise StateError(
                f"the member fingerprints in {where} were made with another key ({origin}), "
                f"not with the {FINGERPRINT_KEY_ENV} now set; set it to the key used before"
                + (f", or unset {FINGERPRINT_KEY_ENV}" if state.fingerprint_key else "")
            )
        state.fingerprint_key, state.fingerprint_key_check = "", check
        return key
    if state.fingerprint_key_check and has_fps:
        raise StateError(
            f"the member fingerprints in {where} were made with another key: "
            f"the one from {FINGERPRINT_KEY_ENV}, which is not set now; set it (e.g. from your CI secret)"
        )
    if not state.fingerprint_key:
        state.fingerprint_key = secrets.token_hex(32)
        state.fingerprint_key_check = ""
    elif state.fingerprint_key_check:  # no fingerprints yet: the env key may be dropped freely
        state.fingerprint_key_check = ""
    return state.fingerprint_key.encode("utf-8")
