"""The executor: carries out a plan through the providers, saving state around every call.

Public API:
  execute(plan, declaration, scans, journal, pool, key, parallelism=, reporter=, blocked=) -> ApplyReport
  settle_pending(journal, pool, scans) -> SettleResult   (run first: finishes an interrupted run)
  Journal(store, state), ProviderPool(settings, env), ApplyReport, Outcome, Status, Reporter
"""

from reconciler.executor.journal import Journal
from reconciler.executor.pool import ProviderPool
from reconciler.executor.report import ApplyReport, Outcome, Status
from reconciler.executor.run import DEFAULT_PARALLELISM, Reporter, SilentReporter, execute
from reconciler.executor.settle import SettleResult, settle_pending

__all__ = [
    "DEFAULT_PARALLELISM",
    "ApplyReport",
    "Journal",
    "Outcome",
    "ProviderPool",
    "Reporter",
    "SettleResult",
    "SilentReporter",
    "Status",
    "execute",
    "settle_pending",
]
