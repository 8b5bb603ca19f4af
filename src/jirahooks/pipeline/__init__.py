"""The pull-request pipeline, the same for every code host (ADR 0017).

``intake`` (verify → parse → store/dedupe) → ``worker`` (claim, lease, heartbeat) →
``processing`` (evaluate → publish; its types in ``work``) → ``leader`` (reconciliation) —
with ``wakeup`` (other processes woken), ``timing`` (where a delivery's time goes),
``rechecks`` (re-evaluations when Jira changes), ``queue`` (synthetic deliveries) and
``options`` (worker settings, one adapter per stored configuration).

It knows no host: each one is a ``platforms.base.PlatformAdapter`` found through
``platforms.registry`` by the platform name a delivery or configuration carries.
"""
