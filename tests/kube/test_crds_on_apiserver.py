"""Tier 3: the CRDs on a real kube-apiserver: samples accepted unchanged, bad input rejected
with field paths, printer columns showing status values, `kubectl get sedna` listing every kind."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sedna_operator.api import KINDS, load_manifests
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver


def _ns(kube: ControlPlane, name: str) -> str:
    if kube.kubectl("get", "namespace", name, check=False).returncode != 0:
        kube.kubectl("create", "namespace", name)
    return name


def test_every_crd_is_established(kube: ControlPlane) -> None:
    crds = kube.kubectl_json("get", "crd", "-l", "app.kubernetes.io/part-of=sedna")["items"]
    assert sorted(c["spec"]["names"]["kind"] for c in crds) == sorted(KINDS)
    for crd in crds:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", crd["metadata"]["name"]
        assert conditions.get("NamesAccepted") == "True", crd["metadata"]["name"]
        assert conditions.get("NonStructuralSchema") is None, crd["metadata"]["name"]


def test_every_sample_applies_unchanged(kube: ControlPlane, conformance_dir: Path) -> None:
    for i, path in enumerate(sorted(conformance_dir.glob("*.yaml"))):
        (doc,) = load_manifests(path.read_text())
        # Samples that name their namespace go there; the others each get their own, since
        # two FL samples share a name.
        ns = doc["metadata"].get("namespace") or _ns(kube, f"conformance-{i}")
        out = kube.kubectl("apply", "-n", ns, "-f", str(path), "--validate=strict")
        assert "created" in out.stdout, out.stdout
        plural = KINDS[doc["kind"]].plural
        stored = kube.kubectl_json("get", "-n", ns, f"{plural}.sedna.io", doc["metadata"]["name"])
        # The server kept every field as written: nothing pruned, nothing defaulted
        # (except pollPeriodSeconds, the one default Sedna declares).
        expected = copy.deepcopy(doc["spec"])
        if doc["kind"] == "IncrementalLearningJob":
            expected["deploySpec"]["model"].setdefault("pollPeriodSeconds", 60)
        assert stored["spec"] == expected, path.name


def _reject(kube: ControlPlane, doc: dict[str, Any]) -> str:
    proc = kube.kubectl("apply", "-n", _ns(kube, "rejects"), "-f", "-", input=json.dumps(doc), check=False)
    assert proc.returncode != 0, f"server accepted an invalid object:\n{proc.stdout}"
    return proc.stderr


def _sample(conformance_dir: Path, name: str) -> dict[str, Any]:
    return load_manifests((conformance_dir / name).read_text())[0]


@pytest.mark.parametrize(
    ("sample", "mutate", "expected"),
    [
        ("incrementallearningjob_v1alpha1.yaml", lambda d: d["spec"]["dataset"].__setitem__("trainProb", 1.5), "spec.dataset.trainProb"),
        ("incrementallearningjob_v1alpha1.yaml", lambda d: d["spec"]["trainSpec"]["trigger"]["condition"].__setitem__("operator", "=>"), "spec.trainSpec.trigger.condition.operator"),
        ("incrementallearningjob_v1alpha1.yaml", lambda d: d["spec"]["trainSpec"]["trigger"]["timer"].__setitem__("start", "25:00"), "spec.trainSpec.trigger.timer.start"),
        ("incrementallearningjob_v1alpha1.yaml", lambda d: d["spec"]["trainSpec"]["trigger"]["timer"].__setitem__("start", "24:00"), "spec.trainSpec.trigger.timer"),
        ("incrementallearningjob_v1alpha1.yaml", lambda d: d["spec"].pop("outputDir"), "spec.outputDir"),
        ("federatedlearningjob_v1alpha1.yaml", lambda d: d["spec"].__setitem__("trainingWorkers", []), "spec.trainingWorkers"),
        ("jointinferenceservice_v1alpha1.yaml", lambda d: d["spec"]["cloudWorker"]["model"].__setitem__("name", "Big_Model"), "spec.cloudWorker.model.name"),
        ("jointinferenceservice_v1alpha1.yaml", lambda d: d["spec"]["cloudWorker"].__setitem__("hpa", {"minReplicas": 3, "maxReplicas": 2}), "spec.cloudWorker.hpa"),
        ("jointinferenceservice_v1alpha1.yaml", lambda d: d["spec"]["edgeWorker"]["template"]["spec"]["containers"][0].pop("image"), "spec.edgeWorker.template.spec.containers[0].image"),
        ("lifelonglearningjobv1alpha1.yaml", lambda d: d["spec"]["trainSpec"]["trigger"].__setitem__("checkPeriodSeconds", 0), "spec.trainSpec.trigger.checkPeriodSeconds"),
    ],
    ids=["trainProb", "operator", "timer-start", "timer-24-start", "outputDir", "no-trainers", "model-name", "hpa-min-max", "container-image", "check-period"],
)
def test_invalid_objects_are_rejected_with_field_path(kube: ControlPlane, conformance_dir: Path, sample: str, mutate: Any, expected: str) -> None:
    doc = copy.deepcopy(_sample(conformance_dir, sample))
    doc["metadata"]["name"] = "bad-" + doc["metadata"]["name"][:40]
    doc["metadata"].pop("namespace", None)
    mutate(doc)
    stderr = _reject(kube, doc)
    assert expected in stderr, stderr


def _patch_status(kube: ControlPlane, ns: str, resource: str, name: str, status: dict[str, Any]) -> None:
    kube.kubectl("patch", "-n", ns, resource, name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def test_printer_columns_show_status(kube: ControlPlane, conformance_dir: Path) -> None:
    ns = _ns(kube, "columns")
    for name in ("incrementallearningjob_v1alpha1.yaml", "federatedlearningjob_v1alpha1.yaml", "jointinferenceservice_v1alpha1.yaml",
                 "lifelonglearningjobv1alpha1.yaml", "dataset_v1alpha1.yaml", "model_v1alpha1.yaml"):  # fmt: skip
        doc = _sample(conformance_dir, name)
        doc["metadata"].pop("namespace", None)
        kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))
    now = "2026-11-21T10:00:00Z"
    _patch_status(kube, ns, "il", "helmet-detection-demo", {
        "round": 2,
        "conditions": [
            {"type": "Waiting", "status": "True", "stage": "Train", "lastHeartbeatTime": now},
            {"type": "Running", "status": "True", "stage": "Eval", "lastHeartbeatTime": now},
        ],
    })  # fmt: skip
    _patch_status(kube, ns, "fl", "surface-defect-detection", {"phase": "Running", "active": 3, "succeeded": 0, "failed": 0, "currentRound": 4})
    _patch_status(kube, ns, "ji", "helmet-detection-inference-example", {
        "active": 2, "failed": 0,
        "conditions": [{"type": "Running", "status": "True"}],
        "metrics": [{"key": "inferenceNumber", "value": "120"}, {"key": "hardExampleNumber", "value": "30"}, {"key": "uploadCloudRatio", "value": "0.25"}],
    })  # fmt: skip
    _patch_status(kube, ns, "ll", "atcii-classifier-demo", {
        "conditions": [{"type": "Completed", "status": "True", "stage": "Deploy"}],
        "knowledgeBase": {"AIModels": {"numberOfAIModels": 3}},
    })  # fmt: skip
    _patch_status(kube, ns, "datasets", "dataset-demo0", {"numberOfSamples": 42, "updateTime": now})

    (il,) = kube.table("il", "-n", ns)
    assert (il["STAGE"], il["STATE"], il["ROUND"]) == ("Eval", "Running", "2")
    (fl,) = kube.table("fl", "-n", ns)
    assert (fl["PHASE"], fl["ACTIVE"], fl["SUCCEEDED"], fl["FAILED"], fl["ROUND"]) == ("Running", "3", "0", "0", "4")
    (ji,) = kube.table("ji", "-n", ns)
    assert (ji["STATE"], ji["ACTIVE"], ji["EDGE-INFERENCES"], ji["CLOUD-RATIO"]) == ("Running", "2", "120", "0.25")
    (ll,) = kube.table("ll", "-n", ns)
    assert (ll["STAGE"], ll["STATE"], ll["MODELS"]) == ("Deploy", "Completed", "3")
    (ds,) = kube.table("datasets", "-n", ns)
    assert (ds["SAMPLES"], ds["NODE"]) == ("42", "edge0")
    (model,) = kube.table("models", "-n", ns)
    assert model["URL"] == "/model/frozen.pb"

    # Status written by the control plane survives: the server kept the extension fields.
    stored = kube.kubectl_json("get", "il", "-n", ns, "helmet-detection-demo")
    assert stored["status"]["round"] == 2

    # One command lists every kind through the `sedna` category.
    out = kube.kubectl("get", "sedna", "-n", ns).stdout
    for kind in KINDS.values():
        assert f"{kind.singular}.sedna.io/" in out, (kind.kind, out)
    for column in ("STAGE", "PHASE", "EDGE-INFERENCES", "CLOUD-RATIO", "SAMPLES", "MODELS"):
        assert column in out


def test_status_cannot_be_set_through_the_main_resource(kube: ControlPlane, conformance_dir: Path) -> None:
    ns = _ns(kube, "status-subresource")
    doc = copy.deepcopy(_sample(conformance_dir, "federatedlearningjob_v1alpha1.yaml"))
    doc["status"] = {"phase": "Succeeded"}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    stored = kube.kubectl_json("get", "fl", "-n", ns, doc["metadata"]["name"])
    assert stored.get("status", {}).get("phase") is None
