"""Configuration of the operator on a cluster: command-line flags and the chart's environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...api.paths import DEFAULT_RELATIVE_PATH_ROOT
from ...controllers.plan import DEFAULT_STORAGE_INITIALIZER_IMAGE

__all__ = ["OperatorConfig", "DEFAULT_STORAGE_INITIALIZER_IMAGE", "DEFAULT_KB_SERVER"]

DEFAULT_KB_SERVER = "http://kb.sedna:9020"


@dataclass(frozen=True)
class OperatorConfig:
    """Everything ``sedna operator`` needs. Defaults suit tests: standalone, no HTTP ports."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    # kopf peering: None runs standalone (one operator, no KopfPeering objects needed);
    # a name makes replicas coordinate through that (Cluster)KopfPeering object.
    peering: str | None = None
    priority: int = 0
    lc_port: int = 9100
    kb_server: str = DEFAULT_KB_SERVER
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER_IMAGE
    inline_credentials: bool = False
    # Relative Dataset/Model/outputDir paths resolve under <root>/<namespace> on the nodes.
    relative_path_root: str = DEFAULT_RELATIVE_PATH_ROOT
    health_port: int | None = None
    metrics_port: int | None = None
    # How long to wait before retrying a reconcile that failed (doubles up to the maximum).
    retry_initial: float = 1.0
    retry_max: float = 60.0
    # Safety net for missed events: every resource is reconciled again this often (0: never).
    resync_seconds: float = 600.0
    # Secret key of the per-job LC report tokens (shared with the LC), if reports are authenticated.
    lc_secret: str | None = field(default=None, repr=False)
    # Key shared with the market: each lifelong-learning job's workers get a market token of
    # their own (MARKET_API_TOKEN, user job:<ns>/<name>) derived with it.
    market_job_key: str | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def lc_server(self) -> str:
        """What workers get as LC_SERVER: the LC of their own node (host network)."""
        return f"http://$(NODE_IP):{self.lc_port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> OperatorConfig:
        """Read the chart's environment (SEDNA_LC_PORT, SEDNA_KB_SERVER, ...); flags override it."""
        env = os.environ if env is None else env
        namespaces = tuple(n.strip() for n in env.get("SEDNA_WATCH_NAMESPACES", "").split(",") if n.strip())
        values: dict[str, object] = {
            "kubeconfig": env.get("KUBECONFIG") or None,
            "namespaces": namespaces,
            "lc_port": int(env.get("SEDNA_LC_PORT", "9100")),
            "kb_server": env.get("SEDNA_KB_SERVER", DEFAULT_KB_SERVER),
            "storage_initializer_image": env.get(
                "SEDNA_STORAGE_INITIALIZER_IMAGE", DEFAULT_STORAGE_INITIALIZER_IMAGE
            ),
            "inline_credentials": env.get("SEDNA_INLINE_CREDENTIALS", "").lower() in ("1", "true", "yes"),
            "priority": int(env.get("SEDNA_PEERING_PRIORITY", "0")),
            "lc_secret": env.get("SEDNA_LC_SECRET") or None,
            "market_job_key": env.get("SEDNA_MARKET_JOB_KEY") or None,
            "relative_path_root": env.get("SEDNA_RELATIVE_PATH_ROOT") or DEFAULT_RELATIVE_PATH_ROOT,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
