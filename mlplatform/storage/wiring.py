"""What a workload needs to reach its project's buckets: environment, secret values and key files.

Backends put `secret_env` and `files` into a Kubernetes Secret (referenced, never inlined in a
manifest) or into a local process's environment and a private folder; `env` is plain.
"""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings

from mlplatform.core.models import Project
from mlplatform.storage.access import DEFAULT_BUCKET, LOCAL_BUCKETS, Wiring
from mlplatform.storage.models import StorageConnection

CREDENTIALS_DIR = Wiring.files_dir  # where backends put the key files


def workload_storage(
    *, project: Project, connections: Collection[str] | None = None, credentials_dir: str = CREDENTIALS_DIR
) -> Wiring:
    """The wiring for the project's connections (those named in `connections`, else all); the
    default connection wins where a variable can name only one store (AWS_* and
    GOOGLE_APPLICATION_CREDENTIALS), else the first by name."""
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    files: dict[str, str] = {}
    profiles: list[str] = []
    wired = StorageConnection.objects.filter(project=project).order_by("-is_default", "name")
    if connections is not None:
        wired = wired.filter(name__in=connections)
    for connection in wired:
        credentials = connection.credentials
        if connection.is_default and connection.default_uri:
            env[DEFAULT_BUCKET] = connection.default_uri
        if connection.kind == StorageConnection.Kind.S3:
            profiles.append(
                f"[{connection.name}]\naws_access_key_id = {credentials['access_key_id']}\n"
                f"aws_secret_access_key = {credentials['secret_access_key']}\n"
            )
            if "AWS_ACCESS_KEY_ID" not in secret_env:
                secret_env["AWS_ACCESS_KEY_ID"] = credentials["access_key_id"]
                secret_env["AWS_SECRET_ACCESS_KEY"] = credentials["secret_access_key"]
                if connection.endpoint_url:
                    env["AWS_ENDPOINT_URL"] = connection.endpoint_url
                if connection.region:
                    env["AWS_DEFAULT_REGION"] = connection.region
        elif connection.kind == StorageConnection.Kind.GCS:
            key_file = f"gcs-{connection.name}.json"
            if credentials.get("service_account_json"):
                files[key_file] = credentials["service_account_json"]
                env.setdefault("GOOGLE_APPLICATION_CREDENTIALS", f"{credentials_dir}/{key_file}")
            if connection.endpoint_url:
                env.setdefault("STORAGE_EMULATOR_HOST", connection.endpoint_url)
        else:
            env[LOCAL_BUCKETS] = str(settings.STORAGE_LOCAL_ROOT)
    if profiles:
        # Every S3 connection as a named profile, for scripts that reach more than one store.
        files["aws-credentials"] = "\n".join(profiles)
        env["AWS_SHARED_CREDENTIALS_FILE"] = f"{credentials_dir}/aws-credentials"
    return Wiring(env=env, secret_env=secret_env, files=files, files_dir=credentials_dir)
