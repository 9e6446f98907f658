"""The Kubernetes runtime: kopf handlers that reconcile sedna.io resources through the API server.

Modules, from the wire up:

- :mod:`.client`: API calls through ``kubernetes_asyncio``, credential loading (kubeconfig / in-cluster).
- :mod:`.observe`: API objects -> :class:`~sedna_operator.controllers.plan.Observation`.
- :mod:`.apply`: :class:`~sedna_operator.controllers.plan.Plan` -> API calls (idempotent).
- :mod:`.engine`: one reconcile per trigger, serialised and coalesced per resource; requeues.
- :mod:`.handlers`: kopf settings and the thin handlers; :mod:`.children`: which child events matter.
- :mod:`.operator`: running it (foreground, or :class:`OperatorThread` for tests).
- :mod:`.sink`, :mod:`.lcnode`: the LC on a node (status patches with an on-disk spool).
- :mod:`.commands`: ``sedna operator`` and ``sedna lc``.

See docs/operator.md.
"""
