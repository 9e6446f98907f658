"""Configuration of the local controller (one pydantic model, read from the environment or built in code)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..api.paths import DEFAULT_RELATIVE_PATH_ROOT

__all__ = ["LCSettings", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_PORT"]

DEFAULT_PORT = 9100
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class LCSettings(BaseModel):
    """Everything the LC needs to serve workers and watch datasets.

    ``LCSettings.for_cluster()`` binds 0.0.0.0:9100 (Sedna's port, host network in the
    DaemonSet) and reads host paths under ``/rootfs``; ``LCSettings.for_local()`` binds
    127.0.0.1 and reads paths as they are.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="0.0.0.0", description="Bind address.")
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535, description="Bind port; 0 picks a free one.")
    node_name: str = Field(default="", description="Node this LC serves (NODENAME, else HOSTNAME).")
    secret: SecretStr | None = Field(
        default=None, description="Key of the per-job report tokens (shared with the operator)."
    )
    auth_required: bool = Field(default=True, description="Reject reports without a valid job token.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, gt=0, description="Largest report body accepted."
    )
    rootfs_mount_dir: str = Field(
        default="", description="Prefix of host paths ('/rootfs' in the DaemonSet, '' when local)."
    )
    writable_host_paths: tuple[str, ...] = Field(
        default=(),
        description="Host directories mounted read-write at their own path (round data and deploy copies "
        "under them are written there; other host paths through rootfs_mount_dir).",
    )
    relative_path_root: str = Field(
        default=DEFAULT_RELATIVE_PATH_ROOT,
        description="Relative Dataset URLs resolve under <root>/<namespace> (the operator's setting too).",
    )
    dataset_poll_seconds: float = Field(default=60.0, gt=0, description="How often index files are read.")
    job_poll_seconds: float = Field(
        default=10.0, gt=0, description="How often the IL/LL jobs of this node are looked at (Sedna: 10 s)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _secret_when_auth(self) -> LCSettings:
        if self.auth_required and (self.secret is None or not self.secret.get_secret_value()):
            raise ValueError("auth_required is on but no secret is set (SEDNA_LC_SECRET)")
        return self

    def secret_bytes(self) -> bytes:
        """The token key as bytes (empty when no secret is configured)."""
        return self.secret.get_secret_value().encode() if self.secret is not None else b""

    @classmethod
    def for_local(cls, secret: str | None = None, **overrides: object) -> LCSettings:
        """Settings of the embedded LC of the local runtime: loopback, free port unless given."""
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": 0,
            "secret": secret,
            "auth_required": secret is not None,
        }
        values.update(overrides)
        return cls.model_validate(values)

    @classmethod
    def for_cluster(cls, **overrides: object) -> LCSettings:
        """Settings of the ``sedna-lc`` DaemonSet, from its environment (Sedna's names first)."""
        env = os.environ
        values: dict[str, object] = {
            "host": env.get("BIND_HOST", "0.0.0.0"),
            "port": int(env.get("BIND_PORT", str(DEFAULT_PORT))),
            "node_name": env.get("NODENAME") or env.get("HOSTNAME", ""),
            "secret": env.get("SEDNA_LC_SECRET") or None,
            "auth_required": env.get("SEDNA_LC_AUTH_REQUIRED", "true").lower() not in ("0", "false", "no"),
            "max_body_bytes": int(env.get("SEDNA_LC_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
            "rootfs_mount_dir": env.get("ROOTFS_MOUNT_DIR", "/rootfs"),
            "writable_host_paths": tuple(p for p in env.get("SEDNA_WRITABLE_HOST_PATHS", "").split(":") if p),
            "relative_path_root": env.get("SEDNA_RELATIVE_PATH_ROOT") or DEFAULT_RELATIVE_PATH_ROOT,
            "dataset_poll_seconds": float(env.get("SEDNA_LC_DATASET_POLL_SECONDS", "60")),
            "job_poll_seconds": float(env.get("SEDNA_LC_JOB_POLL_SECONDS", "10")),
            "log_level": env.get("LOG_LEVEL", "INFO").upper(),
        }
        values.update(overrides)
        return cls.model_validate(values)
