"""The local runtime: ``sedna run`` reconciles sedna.io resources into local processes.

Modules, from pure logic to I/O:

- :mod:`.merge`, :mod:`.jsonpath`: JSON merge patches and the printer-column path evaluator.
- :mod:`.images`: which local directory (and entrypoint) stands for a container image.
- :mod:`.podenv`: a Pod manifest -> the argv, env and working directory of local processes.
- :mod:`.store`: the SQLite state directory (resources, workers, services, events, reports).
- :mod:`.runner`: starts, adopts, restarts and stops worker processes.
- :mod:`.loop`: observe -> reconcile -> apply, until every job is finished.
- :mod:`.commands`: ``sedna run | get | describe | logs | delete``.

See docs/local-runtime.md for the mapping from Kubernetes concepts to local ones.
"""
