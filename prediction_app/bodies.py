"""Models and versions as `ml v1` answers them (GoogleCloudMlV1__Model and __Version), with their
etags: the facade, the native API and operations' metadata all answer these bodies."""

from __future__ import annotations

import base64
import hashlib

from mlplatform.gcp.proto import timestamp
from prediction_app.models import Model, Version

DEFAULT_MACHINE_TYPE = "mls1-c1-m2"  # AI Platform's for a version that names none: 1 vCPU, 2 GB


def etag(*parts) -> str:
    """Changes whenever any part does: read-modify-write clients send it back."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()[:12]
    return base64.b64encode(digest).decode()


def model_etag(model: Model) -> str:
    return etag(model.pk, model.update_time.isoformat(), model.default_version_id)


def version_etag(version: Version) -> str:
    workload = version.workload
    return etag(
        version.pk, version.update_time.isoformat(), workload.updated_at.isoformat() if workload else ""
    )


def model_json(model: Model) -> dict:
    body = {
        "name": model.name,
        "description": model.description,
        "regions": model.regions,
        "onlinePredictionLogging": model.online_prediction_logging,
        "onlinePredictionConsoleLogging": model.online_prediction_console_logging,
        "labels": model.labels,
        "etag": model_etag(model),
    }
    if model.default_version is not None:
        default = model.default_version
        default.model = model  # its resource name is the model's
        body["defaultVersion"] = version_json(default)
    return _present(body)


def version_json(version: Version) -> dict:
    body = {
        "name": version.resource_name,
        "description": version.description,
        "isDefault": version.is_default,
        "deploymentUri": version.deployment_uri,
        "createTime": timestamp(version.create_time),
        "lastUseTime": timestamp(version.last_use_time),
        "runtimeVersion": version.runtime_version,
        "pythonVersion": version.python_version,
        "framework": version.framework,
        "machineType": version.machine_type or DEFAULT_MACHINE_TYPE,
        "acceleratorConfig": version.accelerator_config,
        "autoScaling": version.auto_scaling,
        "manualScaling": version.manual_scaling,
        "predictionClass": version.prediction_class,
        "packageUris": version.package_uris,
        "container": version.container,
        "routes": version.routes,
        "labels": version.labels,
        "state": version.state,
        "errorMessage": version.failure,
        "etag": version_etag(version),
    }
    return _present(body)


def _present(body: dict) -> dict:
    """proto3 JSON leaves out unset fields: empty strings, lists and maps, false and null."""
    return {key: value for key, value in body.items() if value not in (None, "", [], {}, False)}
