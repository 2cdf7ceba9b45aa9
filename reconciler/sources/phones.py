"""Phone normalisation for sources: re-exports reconciler.phones (kept light there so that
`reconciler --version` can report the fast path's status without loading the sources package)."""

from reconciler.phones import (
    SUPPORTED_REGIONS,
    looks_numeric,
    normalise_phone,
    region_for,
    slow_normalise_phone,
)

__all__ = ["SUPPORTED_REGIONS", "looks_numeric", "normalise_phone", "region_for", "slow_normalise_phone"]
