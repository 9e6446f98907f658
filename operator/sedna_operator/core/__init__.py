"""The runtime-neutral core: what both runtimes (``runtime.kubernetes``, ``runtime.local``) share.

- :mod:`.registry`: the one kind registry (kind -> reconcile / cleanup, kind groups);
- :mod:`.observation`: pure functions from raw objects (dicts) to the reconcilers' ``Observed*``
  types and the whole :class:`~sedna_operator.controllers.plan.Observation`;
- :mod:`.reports`: the one wire codec of ``status.reports.<worker>``;
- :mod:`.merge`: the one RFC 7386 merge patch (how every status patch is applied);
- :mod:`.times`: the one RFC 3339 time parser.

Submodules are imported directly (this package imports nothing itself), so that the
reconcilers can use :mod:`.times` while :mod:`.registry` imports the reconcilers.
"""
