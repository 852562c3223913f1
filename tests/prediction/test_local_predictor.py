"""Online prediction end to end on the local backend: the real googleapiclient creates a model and a
version of a scikit-learn model trained and uploaded here, a real Celery worker admits and starts
the real predictor (python -m prediction_app.serving), and predictions come back through the
console equal to the model's own. Skipped until the predictor is merged."""

from __future__ import annotations

import time

import pytest

from mlplatform.compute.models import Workload
from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from prediction_app.tasks import sync_versions
from tests.prediction.conftest import needs_predictor, version_body

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("real-worker"),
    needs_predictor,
]


@pytest.fixture
def ml(google_api, member, celery_worker):
    return google_api(member(Role.EDITOR))


def wait(ml, operation: dict, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()  # beat's jobs in production
        sync_versions.delay()
        operation = ml.projects().operations().get(name=operation["name"]).execute()
        if operation["done"]:
            return operation
        assert time.monotonic() < deadline, (
            operation["name"],
            list(Workload.objects.values("state", "reason", "replicas")),
        )
        time.sleep(0.5)


def test_a_scikit_learn_version_serves_the_models_own_predictions(local, ml, iris_model):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    created = (
        ml.projects()
        .models()
        .versions()
        .create(parent="projects/team-a/models/iris", body=version_body())
        .execute()
    )

    done = wait(ml, created)

    assert done["response"]["state"] == "READY", done
    instances = iris_model[1][:5].tolist()
    answer = (
        ml.projects().predict(name="projects/team-a/models/iris", body={"instances": instances}).execute()
    )
    assert answer == {"predictions": iris_model[0].predict(instances).tolist()}

    second = (
        ml.projects()
        .models()
        .versions()
        .create(parent="projects/team-a/models/iris", body=version_body("v2"))
        .execute()
    )
    wait(ml, second)
    ml.projects().models().versions().setDefault(
        name="projects/team-a/models/iris/versions/v2", body={}
    ).execute()
    again = ml.projects().predict(name="projects/team-a/models/iris", body={"instances": instances}).execute()
    assert again == answer
    deleted = (
        ml.projects().models().versions().delete(name="projects/team-a/models/iris/versions/v1").execute()
    )
    assert wait(ml, deleted)["done"] is True


def test_a_model_that_cannot_load_fails_the_version_and_releases_its_quota(local, ml, settings):
    (settings.STORAGE_LOCAL_ROOT / "demo" / "models" / "iris" / "model.joblib").write_bytes(b"not a model")
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    created = (
        ml.projects()
        .models()
        .versions()
        .create(parent="projects/team-a/models/iris", body=version_body())
        .execute()
    )

    done = wait(ml, created)

    assert done["error"]["message"].startswith("Create Version failed. Bad model detected with error: ")
    version = ml.projects().models().versions().get(name="projects/team-a/models/iris/versions/v1").execute()
    assert version["state"] == "FAILED"
    deadline = time.monotonic() + 30
    while Workload.objects.get().state != Workload.State.CANCELLED:
        assert time.monotonic() < deadline
        sync_workloads.delay()
        time.sleep(0.5)
