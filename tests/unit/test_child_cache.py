"""The watch-fed child cache: when a child is known current, when the owner must look again."""

from typing import Any

from cocoon_operator.reconcile.child_cache import ChildCache, digest


def _svc(rv: str, port: int = 12000, name: str = "w1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "managedFields": [{"big": 1}]},
        "spec": {"ports": [{"port": port}]},
    }


def test_own_write_then_its_watch_event_is_current_and_triggers_nothing() -> None:
    cache = ChildCache()
    want = digest(_svc("", 12000))
    cache.wrote("Service", _svc("5"), want)
    assert cache.is_current("Service", "ns", "w1", want)
    assert not cache.observe("Service", _svc("5"))  # the echo of our own write
    assert cache.is_current("Service", "ns", "w1", want)
    assert not cache.is_current("Service", "ns", "w1", digest(_svc("", 9000)))  # the spec changed


def test_another_writer_or_a_deletion_makes_the_owner_look_again() -> None:
    cache = ChildCache()
    want = digest(_svc("", 12000))
    cache.wrote("Service", _svc("5"), want)
    assert cache.observe("Service", _svc("6", port=1))  # kubectl edit
    assert not cache.is_current("Service", "ns", "w1", want)
    cache.verified("Service", _svc("7"), want)
    assert cache.is_current("Service", "ns", "w1", want)
    assert cache.observe("Service", _svc("7"), deleted=True)
    assert not cache.is_current("Service", "ns", "w1", want)


def test_an_old_event_after_a_newer_write_response_is_ignored() -> None:
    cache = ChildCache()
    want = digest(_svc("", 12000))
    cache.wrote("Service", _svc("9"), want)
    assert not cache.observe("Service", _svc("8"))
    assert cache.is_current("Service", "ns", "w1", want)


def test_pods_are_kept_slim_and_only_real_changes_trigger() -> None:
    cache = ChildCache()
    pod = {
        "kind": "Pod",
        "metadata": {"name": "w1-0", "namespace": "ns", "resourceVersion": "3", "managedFields": [{}]},
        "status": {"phase": "Pending"},
    }
    assert cache.observe("Pod", pod)
    kept = cache.body("Pod", "ns", "w1-0")
    assert kept is not None and "managedFields" not in kept["metadata"]
    assert not cache.observe("Pod", {**pod, "metadata": {**pod["metadata"], "resourceVersion": "4"}})
    running = {**pod, "metadata": {**pod["metadata"], "resourceVersion": "5"}, "status": {"phase": "Running"}}
    assert cache.observe("Pod", running)
    assert cache.body("Pod", "ns", "other") is None


def test_statefulsets_keep_no_template_and_trigger_on_status_only() -> None:
    cache = ChildCache()
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "w1", "namespace": "ns", "resourceVersion": "3", "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "x"}]}}},
        "status": {"replicas": 0},
    }
    assert cache.observe("StatefulSet", sts)
    kept = cache.body("StatefulSet", "ns", "w1")
    assert kept is not None and "template" not in kept["spec"] and kept["spec"]["replicas"] == 1
    changed_spec = {**sts, "metadata": {**sts["metadata"], "generation": 2, "resourceVersion": "4"}}
    assert not cache.observe("StatefulSet", changed_spec)  # the operator's own write
    assert cache.observe("StatefulSet", {**changed_spec, "status": {"replicas": 1}})


def test_status_written_by_a_controller_keeps_a_child_current() -> None:
    cache = ChildCache()
    pdb = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "w1", "namespace": "ns", "resourceVersion": "3", "generation": 1},
        "spec": {"maxUnavailable": 1},
    }
    want = digest({"spec": {"maxUnavailable": 1}})
    cache.wrote("PodDisruptionBudget", pdb, want)
    meta = {**pdb["metadata"], "resourceVersion": "4"}
    counted = {**pdb, "metadata": meta, "status": {"currentHealthy": 1}}
    assert not cache.observe("PodDisruptionBudget", counted)  # the disruption controller's status update
    assert cache.is_current("PodDisruptionBudget", "ns", "w1", want)
