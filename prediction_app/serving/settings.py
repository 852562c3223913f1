"""The server's configuration, read once from the environment (the names are the contract)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A variable that cannot be read: the server cannot start."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    predict_route: str = "/predict"
    health_route: str = "/health"
    storage_uri: str = ""
    model_name: str = ""
    version_name: str = ""
    framework: str = ""
    prediction_class: str = ""
    package_uris: tuple[str, ...] = ()
    max_batch_size: int = 0
    max_batch_time_ms: float = 0.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings of `environ`; raises SettingsError for a number that is not one."""
        return cls(
            host=environ.get("MLPLATFORM_HOST") or cls.host,
            port=_number(environ, "AIP_HTTP_PORT", int, cls.port),
            predict_route=environ.get("AIP_PREDICT_ROUTE") or cls.predict_route,
            health_route=environ.get("AIP_HEALTH_ROUTE") or cls.health_route,
            storage_uri=environ.get("AIP_STORAGE_URI", ""),
            model_name=environ.get("AIP_MODEL_NAME", ""),
            version_name=environ.get("AIP_VERSION_NAME", ""),
            framework=environ.get("MLPLATFORM_FRAMEWORK", "").strip().upper(),
            prediction_class=environ.get("MLPLATFORM_PREDICTION_CLASS", "").strip(),
            package_uris=tuple(environ.get("MLPLATFORM_PACKAGE_URIS", "").split()),
            max_batch_size=_number(environ, "MLPLATFORM_MAX_BATCH_SIZE", int, 0),
            max_batch_time_ms=_number(environ, "MLPLATFORM_MAX_BATCH_TIME_MS", float, 0.0),
        )


def _number(environ: Mapping[str, str], name: str, kind: type, default):
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number") from None
    if number < 0:
        raise SettingsError(f"{name}={value!r} is negative")
    return number
