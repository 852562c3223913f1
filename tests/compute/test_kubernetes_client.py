"""The Kubernetes client module and the informers, against the API test server (tests/kube/).

No database: the official `kubernetes` client talks HTTP to a fresh server per test, and the
server's request counters show what each call cost.
"""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from mlplatform.compute.backends.base import LABEL_MANAGED_BY, LABEL_WORKLOAD, MANAGED_BY, BackendError
from mlplatform.compute.backends.kubernetes.client import KubeClient, classify
from mlplatform.compute.backends.kubernetes.informer import Informer
from tests.kube import OPTIONAL_GROUPS

NS = "team-a"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"


@pytest.fixture
def client(kube) -> KubeClient:
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return KubeClient(kube.api_client, timeout=2)


def config_map(name: str, workload: str = "w1", *, ours: bool = True, namespace: str = NS) -> dict:
    labels = {LABEL_WORKLOAD: workload} | ({LABEL_MANAGED_BY: MANAGED_BY} if ours else {})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


# --- idempotent create and delete ----------------------------------------------------------


def test_create_twice_makes_one_object_and_returns_it_both_times(client, kube):
    first = client.create(config_map("root"))
    second = client.create(config_map("root"))

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert kube.created[("ConfigMap", NS, "root")] == 1
    assert kube.requests.count("create", CONFIGMAPS) == 2  # the second was answered 409 AlreadyExists
    assert kube.requests.count("get", f"{CONFIGMAPS}/root") == 1


def test_delete_twice_is_done_both_times(client, kube):
    client.create(config_map("root"))

    assert client.delete("ConfigMap", NS, "root") is True
    assert client.delete("ConfigMap", NS, "root") is False
    assert kube.get("ConfigMap", NS, "root") is None
    assert kube.requests.count("delete", f"{CONFIGMAPS}/root") == 2


def test_delete_cascades_to_what_the_object_owns(client, kube):
    root = client.create(config_map("root"))
    child = config_map("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "root", "uid": root["metadata"]["uid"]}
    ]
    client.create(child)

    client.delete("ConfigMap", NS, "root")

    assert kube.get("ConfigMap", NS, "child") is None


def test_get_of_a_missing_object_is_none(client):
    assert client.get("ConfigMap", NS, "nothing") is None


def test_list_filters_by_label_selector_across_namespaces(client, kube):
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    client.create(config_map("a", "w1"))
    client.create(config_map("b", "w2"))
    client.create(config_map("c", "w3", namespace="team-b"))
    client.create(config_map("theirs", "w1", ours=False))

    def names(selector: str) -> list[str]:
        return sorted(
            obj["metadata"]["name"] for obj in client.list_objects("ConfigMap", selector=selector)[0]
        )

    assert names(f"{LABEL_MANAGED_BY}={MANAGED_BY}") == ["a", "b", "c"]
    assert names(f"{LABEL_WORKLOAD} in (w1,w3)") == ["a", "c", "theirs"]
    assert names(f"{LABEL_WORKLOAD}!=w1,{LABEL_MANAGED_BY}") == ["b", "c"]
    assert names(f"!{LABEL_MANAGED_BY}") == ["theirs"]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "temporary"),
    [
        *((status, False) for status in (400, 401, 403, 404, 422)),
        *((status, True) for status in (409, 429, 500, 503, 504)),
    ],
)
def test_classify_api_errors(status, temporary):
    error = classify(ApiException(status=status, reason="Reason"), "create Job team-a/x")

    assert error.temporary is temporary
    assert str(error).startswith(f"create Job team-a/x: {status}")


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"),
        urllib3.exceptions.NewConnectionError(None, "connection refused"),
        urllib3.exceptions.ProtocolError("connection reset"),
        ConnectionResetError(),
    ],
)
def test_classify_timeouts_and_connection_errors_as_temporary(exc):
    assert classify(exc).temporary is True


def test_a_server_error_is_temporary(client, kube):
    kube.faults.set(error_rate=1.0, error_status=503)

    with pytest.raises(BackendError) as raised:
        client.create(config_map("root"))

    assert raised.value.temporary


def test_a_reply_past_the_timeout_is_temporary_though_the_create_happened(client, kube):
    client.timeout = 0.1
    kube.faults.set(timeout_rate=1.0, delay_seconds=0.3)

    with pytest.raises(BackendError) as raised:
        client.create(config_map("root"))
    kube.faults.set(timeout_rate=0.0)
    retried = client.create(config_map("root"))

    assert raised.value.temporary
    assert retried["metadata"]["name"] == "root"
    assert kube.created[("ConfigMap", NS, "root")] == 1


def test_an_update_conflict_is_temporary(client, kube):
    client.create(config_map("root"))
    kube.faults.set(conflicts=1)

    with pytest.raises(BackendError) as raised:
        client.patch("ConfigMap", NS, "root", {"data": {"a": "1"}})
    patched = client.patch("ConfigMap", NS, "root", {"data": {"a": "1"}})

    assert raised.value.temporary
    assert patched["data"] == {"a": "1"}


def test_a_stale_replace_is_temporary(client):
    created = client.create(config_map("root"))
    client.patch("ConfigMap", NS, "root", {"data": {"a": "1"}})

    with pytest.raises(BackendError) as raised:
        client.replace({**created, "data": {"b": "2"}})

    assert raised.value.temporary
    assert "409" in str(raised.value)


def test_create_in_a_missing_namespace_is_permanent(client):
    with pytest.raises(BackendError) as raised:
        client.create(config_map("root", namespace="nowhere"))

    assert not raised.value.temporary
    assert "404" in str(raised.value)


def test_an_invalid_object_is_permanent(client):
    with pytest.raises(BackendError) as raised:
        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "", "namespace": NS}})

    assert not raised.value.temporary
    assert "422" in str(raised.value)


def test_an_unreachable_server_is_temporary(kube):
    url = kube.url
    kube.close()
    unreachable = k8s.ApiClient(k8s.Configuration(host=url))
    unreachable.configuration.retries = 0

    with pytest.raises(BackendError) as raised:
        KubeClient(unreachable, timeout=1).get("ConfigMap", NS, "root")

    assert raised.value.temporary


# --- cluster facts -------------------------------------------------------------------------


def test_detect_integrations_from_the_served_api_groups(client, kube):
    assert not any(client.detect_integrations().values())

    kube.add_api_group(*OPTIONAL_GROUPS["kueue"])
    kube.add_api_group(*OPTIONAL_GROUPS["kserve"])

    assert client.detect_integrations() == {
        "kueue": True,
        "jobset": False,
        "kubeflow": False,
        "kserve": True,
        "mpijob": False,
        "coscheduling": False,
        "metrics": False,
    }

    kube.add_api_group(*OPTIONAL_GROUPS["mpijob"])

    assert client.detect_integrations()["mpijob"]


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def test_pod_logs_last_lines(client, kube):
    kube.put(pod("p"))
    kube.set_logs(NS, "p", "one\ntwo\nthree\n")

    assert list(client.pod_logs(NS, "p")) == ["one", "two", "three"]
    assert list(client.pod_logs(NS, "p", tail_lines=2)) == ["two", "three"]


def test_pod_logs_follow_as_lines_come_until_the_pod_ends(client, kube):
    kube.put(pod("p"))
    kube.kubelet.set_pod(NS, "p")
    kube.set_logs(NS, "p", "starting")

    lines = client.pod_logs(NS, "p", follow=True)
    assert next(lines) == "starting"
    kube.append_logs(NS, "p", "epoch 1\nepoch 2")
    assert next(lines) == "epoch 1"
    kube.kubelet.set_pod(NS, "p", exit_code=0)

    assert list(lines) == ["epoch 2"]


def test_logs_of_a_missing_pod_are_a_permanent_error(client):
    with pytest.raises(BackendError) as raised:
        list(client.pod_logs(NS, "nothing"))

    assert not raised.value.temporary


# --- informers -----------------------------------------------------------------------------


@pytest.fixture
def informer(client) -> Informer:
    return Informer(client, "ConfigMap", idle_seconds=0.02)


def test_informer_lists_once_then_only_watches(informer, client, kube):
    client.create(config_map("a", "w1"))
    client.create(config_map("theirs", "w1", ours=False))

    informer.sync_once()
    client.create(config_map("b", "w1"))
    client.create(config_map("c", "w2"))
    informer.sync_once()
    client.patch("ConfigMap", NS, "a", {"data": {"k": "v"}})
    client.delete("ConfigMap", NS, "c")
    informer.sync_once()

    assert kube.requests.count("list") == 1
    assert kube.requests.count("watch") == 2
    assert kube.requests.count("get") == 0
    assert [obj["metadata"]["name"] for obj in informer.of_workload("w1")] == ["a", "b"]
    assert informer.of_workload("w2") == []
    assert informer.get(NS, "a")["data"] == {"k": "v"}
    assert informer.get(NS, "theirs") is None


def test_informer_resumes_the_watch_from_the_last_resource_version(informer, client, kube):
    informer.sync_once()
    listed_at = informer.resource_version
    created = client.create(config_map("a"))

    informer.sync_once()

    assert kube.requests.last_query("watch")["resourceVersion"] == listed_at
    assert informer.resource_version == created["metadata"]["resourceVersion"]
    assert informer.get_by_uid(created["metadata"]["uid"])["metadata"]["name"] == "a"


def test_informer_lists_again_after_410_gone(informer, client, kube):
    client.create(config_map("a"))
    client.create(config_map("b"))
    informer.sync_once()
    client.delete("ConfigMap", NS, "a")
    client.create(config_map("c"))
    kube.compact()  # the events since the informer's resourceVersion are gone

    informer.sync_once()
    informer.sync_once()

    assert kube.requests.count("list") == 2
    assert kube.requests.count("watch") == 2  # the one answered 410, then a resumed one
    assert informer.lists == 2
    assert sorted(obj["metadata"]["name"] for obj in informer.objects()) == ["b", "c"]


def test_informer_lists_again_when_the_retained_window_is_overrun(informer, client, kube):
    informer.sync_once()
    kube.watch_window = 3
    for name in "abcde":
        client.create(config_map(name))

    informer.sync_once()

    assert informer.lists == 2
    assert len(informer) == 5


def test_informer_keeps_its_cache_when_the_api_fails(informer, client, kube):
    client.create(config_map("a"))
    informer.sync_once()
    kube.faults.set(error_rate=1.0)

    with pytest.raises(BackendError):
        informer.sync_once()

    assert informer.get(NS, "a") is not None


# --- the test server speaks the official client's typed API too ----------------------------


def test_typed_api_round_trip(kube):
    core = k8s.CoreV1Api(kube.api_client)
    core.create_namespace({"metadata": {"name": NS}})
    created = core.create_namespaced_config_map(NS, {"metadata": {"name": "c", "labels": {"a": "1"}}})

    listed = core.list_config_map_for_all_namespaces(label_selector="a=1")

    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert [item.metadata.name for item in listed.items] == ["c"]


def test_status_changes_only_through_the_status_subresource(kube):
    batch = k8s.BatchV1Api(kube.api_client)
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    template = {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}
    batch.create_namespaced_job(NS, {"metadata": {"name": "j"}, "spec": {"template": template}})

    batch.patch_namespaced_job("j", NS, {"status": {"active": 1}})
    batch.patch_namespaced_job_status("j", NS, {"status": {"succeeded": 1}})

    assert kube.get("Job", NS, "j")["status"] == {"succeeded": 1}
