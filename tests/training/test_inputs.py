"""trainingInput's JSON read into its typed request: proto3's int64 and Duration forms, bad types
and unknown fields refused with the field's path. No database: shapes only."""

from __future__ import annotations

import pytest

from mlplatform.core.errors import ApplicationError, ErrorCode
from training_app.inputs import AcceleratorConfig, Package, Scheduling, training_input_from_json

CUSTOM = {"scaleTier": "CUSTOM", "masterType": "n1-standard-4"}
PACKAGE = {"packageUris": ["gs://demo/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}


def refused(**training_input) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        training_input_from_json({**PACKAGE, **training_input})
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    return caught.value


def test_int64_counts_come_as_strings_or_numbers_and_durations_as_seconds():
    request = training_input_from_json(
        {
            **PACKAGE,
            "scaleTier": "CUSTOM",
            "masterType": "n1-standard-8",
            "masterConfig": {"acceleratorConfig": {"type": "NVIDIA_TESLA_T4", "count": "2"}},
            "workerType": "n1-standard-8",
            "workerCount": "3",
            "parameterServerType": "n1-highmem-8",
            "parameterServerCount": 2,
            "evaluatorCount": "0",
            "scheduling": {"maxRunningTime": "3600s", "maxWaitTime": "0.25s", "priority": "10"},
        }
    )

    assert [(r.role, r.machine_type, r.count) for r in request.replicas] == [
        ("master", "n1-standard-8", 1),
        ("worker", "n1-standard-8", 3),
        ("ps", "n1-highmem-8", 2),
    ]
    assert request.master.config.accelerator == AcceleratorConfig(type="NVIDIA_TESLA_T4", count=2)
    assert request.scheduling == Scheduling(max_running_seconds=3600, max_wait_seconds=1, priority=10)
    assert request.package == Package(uris=("gs://demo/trainer-0.1.tar.gz",), module="trainer.task")


def test_a_custom_container_has_no_package():
    request = training_input_from_json({"masterConfig": {"imageUri": "registry.example/t:1"}})

    assert request.package is None
    assert request.master.config.image_uri == "registry.example/t:1"


@pytest.mark.parametrize(
    ("training_input", "field"),
    [
        ({**CUSTOM, "workerCount": "2.5"}, "trainingInput.workerCount"),
        ({**CUSTOM, "workerCount": True}, "trainingInput.workerCount"),
        ({"scaleTier": "CUSTOM", "masterType": 4}, "trainingInput.masterType"),
        ({"scaleTier": ["BASIC"]}, "trainingInput.scaleTier"),
        ({"scheduling": {"maxRunningTime": "1h"}}, "trainingInput.scheduling.maxRunningTime"),
        ({"scheduling": {"maxWaitTime": 60}}, "trainingInput.scheduling.maxWaitTime"),
        ({"scheduling": []}, "trainingInput.scheduling"),
        ({"args": "--epochs 3"}, "trainingInput.args"),
        ({"runtimeVersion": 2.11}, "trainingInput.runtimeVersion"),
        ({"jobDir": "gs://demo/a,b"}, "trainingInput.jobDir"),
        ({"fancyMode": True}, "trainingInput.fancyMode"),
        ({"scheduling": {"deadline": "5s"}}, "trainingInput.scheduling.deadline"),
        ({"masterConfig": {"gpus": 2}}, "trainingInput.masterConfig.gpus"),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "n1-standard-4",
                "masterConfig": {"acceleratorConfig": {"type": "NVIDIA_TESLA_T4", "cores": 1}},
            },
            "trainingInput.masterConfig.acceleratorConfig.cores",
        ),
    ],
)
def test_bad_types_and_unknown_fields_are_refused_with_their_path(training_input, field):
    assert refused(**training_input).field == field


def test_an_unknown_field_is_named_with_its_message_type():
    error = refused(scheduling={"deadline": "5s"})

    assert error.message == "'deadline' is not a field of Scheduling."
