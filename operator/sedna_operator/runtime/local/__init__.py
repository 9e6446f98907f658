"""The local runtime: ``sedna run`` reconciles sedna.io resources into local processes.

Modules, from pure logic to I/O:

- :mod:`.jsonpath`: the printer-column path evaluator (merge patches are :mod:`sedna_operator.core.merge`).
- :mod:`.images`: which local directory (and entrypoint) stands for a container image.
- :mod:`.podenv`: a Pod manifest -> the argv, env and working directory of local processes.
- :mod:`.store`: the SQLite state directory (resources, workers, services, events).
- :mod:`.ports`: free local ports (services, the embedded LC).
- :mod:`.runner`: starts, adopts, restarts and stops worker processes.
- :mod:`.loop`: observe -> reconcile -> apply, until every job is finished (the observation,
  registry, merge and report codec are :mod:`sedna_operator.core`'s, as on a cluster).
- :mod:`.session`: ``sedna run``: the store, the embedded LC (:class:`sedna_operator.lc.LCServer`,
  with its file work in :mod:`sedna_operator.lc.localjobs`) and the loop.
- :mod:`.commands`: ``sedna run | get | describe | logs | delete``.

See docs/local-runtime.md for the mapping from Kubernetes concepts to local ones.
"""
