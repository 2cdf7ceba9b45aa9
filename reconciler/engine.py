"""Orchestration: load the project (declaration, state, sources) and make a plan from it.

Public API (commands and the executor rely on these names):
  Project, load_project(config, state_dir, targets=None) -> Project
  make_plan(project, options) -> Plan
  check_plan_current(plan, project) -> None  (raises StalePlanError when inputs moved)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.model import Declaration
from reconciler.plan import Plan
from reconciler.sources.members import SourceScan
from reconciler.state import State, StateStore


@dataclass
class PlanOptions:
    targets: list[str] = field(default_factory=list)  # empty: every audience
    replace: list[str] = field(default_factory=list)
    allow_shrink: list[str] = field(default_factory=list)
    allow_destroy: list[str] = field(default_factory=list)


@dataclass
class Project:
    declaration: Declaration
    store: StateStore
    state: State
    key: bytes  # fingerprint key
    scans: dict[str, SourceScan] = field(default_factory=dict)  # audience key -> scan


def load_project(config: Path, state_dir: Path, targets: list[str] | None = None) -> Project:
    """Load and validate the declaration, the state, and scan the (targeted) audiences' sources."""
    raise NotImplementedError


def make_plan(project: Project, options: PlanOptions) -> Plan:
    """Diff the project against its state (pure given the loaded project), guards applied."""
    raise NotImplementedError


def check_plan_current(plan: Plan, project: Project) -> None:
    """Raise StalePlanError if the plan's recorded inputs no longer match the project."""
    raise NotImplementedError
