"""Tier 1: the CRD models parse Sedna's samples unchanged and reject bad input with field paths."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sedna_operator.api import (
    KINDS,
    IncrementalLearningJob,
    ResourceValidationError,
    kind_info,
    load_manifests,
    parse_resource,
)

SAMPLES = sorted((Path(__file__).resolve().parents[2].parent / "shared/conformance/sedna-crd-samples").glob("*.yaml"))


def _doc(name: str) -> dict:
    path = next(p for p in SAMPLES if p.name == name)
    return load_manifests(path.read_text())[0]


def test_samples_are_present() -> None:
    assert len(SAMPLES) == 8


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_parses_and_round_trips(path: Path) -> None:
    (doc,) = load_manifests(path.read_text())
    resource = parse_resource(doc, source=path.name)
    assert resource.kind == doc["kind"]
    assert resource.name == doc["metadata"]["name"]
    # Nothing the user wrote is lost or altered: the wire form of the spec equals the input.
    assert resource.to_wire()["spec"] == doc["spec"]


def test_unquoted_timer_reads_as_time_of_day() -> None:
    il = parse_resource(_doc("incrementallearningjob_v1alpha1.yaml"))
    assert isinstance(il, IncrementalLearningJob)
    timer = il.spec.train_spec.trigger.timer
    assert timer is not None and (timer.start, timer.end) == ("02:00", "24:00")
    # PyYAML's own SafeLoader reads `24:00` as the base-60 integer 1440; the models still cope.
    raw = yaml.safe_load(Path(next(p for p in SAMPLES if p.name.startswith("incremental"))).read_text())
    assert raw["spec"]["trainSpec"]["trigger"]["timer"]["end"] == 1440
    il2 = parse_resource(raw)
    assert il2.spec.train_spec.trigger.timer.end == "24:00"  # type: ignore[union-attr]


def test_python_names_and_wire_names() -> None:
    il = parse_resource(_doc("incrementallearningjob_v1alpha1.yaml"))
    assert il.spec.dataset.train_prob == 0.8
    assert il.spec.deploy_spec.hard_example_mining.name == "IBT"
    assert il.spec.train_spec.trigger.condition.symbol == ">"
    ji = parse_resource(_doc("jointinferenceservice_v1alpha1.yaml"))
    params = {p.key: p.value for p in ji.spec.edge_worker.hard_example_mining.parameters}
    assert params == {"threshold_img": "0.5", "threshold_box": "0.5"}


def _errors(doc: dict) -> list[str]:
    with pytest.raises(ResourceValidationError) as info:
        parse_resource(doc)
    return [str(e) for e in info.value.errors]


BAD_IL = [
    (("spec", "dataset", "trainProb"), 1.5, "spec.dataset.trainProb"),
    (("spec", "dataset", "trainProb"), -0.1, "spec.dataset.trainProb"),
    (("spec", "trainSpec", "trigger", "condition", "operator"), "=>", "spec.trainSpec.trigger.condition.operator"),
    (("spec", "trainSpec", "trigger", "timer", "start"), "25:00", "spec.trainSpec.trigger.timer.start"),
    (("spec", "trainSpec", "trigger", "timer", "end"), "2am", "spec.trainSpec.trigger.timer.end"),
    (("spec", "trainSpec", "trigger", "checkPeriodSeconds"), 0, "spec.trainSpec.trigger.checkPeriodSeconds"),
    (("spec", "initialModel", "name"), "Initial_Model", "spec.initialModel.name"),
    (("spec", "deploySpec", "model", "pollPeriodSeconds"), 0, "spec.deploySpec.model.pollPeriodSeconds"),
    (("spec", "evalSpec", "template", "spec", "containers"), [], "spec.evalSpec.template.spec.containers"),
]


@pytest.mark.parametrize(("path", "value", "where"), BAD_IL, ids=[w for _, _, w in BAD_IL])
def test_bad_fields_are_reported_with_their_path(path: tuple[str, ...], value: object, where: str) -> None:
    doc = copy.deepcopy(_doc("incrementallearningjob_v1alpha1.yaml"))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = _errors(doc)
    assert any(e.startswith(where + ":") for e in errors), errors


def test_every_trigger_operator_spelling_is_accepted() -> None:
    for op in (">", ">=", "==", "=", "!=", "<=", "<", "gt", "ge", "eq", "ne", "le", "lt"):
        doc = copy.deepcopy(_doc("incrementallearningjob_v1alpha1.yaml"))
        doc["spec"]["deploySpec"]["trigger"]["condition"]["operator"] = op
        assert parse_resource(doc).spec.deploy_spec.trigger.condition.operator == op


def test_unknown_field_missing_field_and_wrong_kind() -> None:
    doc = copy.deepcopy(_doc("jointinferenceservice_v1alpha1.yaml"))
    doc["spec"]["edgeWorker"]["hardExampleMinning"] = doc["spec"]["edgeWorker"].pop("hardExampleMining")
    errors = _errors(doc)
    assert "spec.edgeWorker.hardExampleMinning: unknown field (check its spelling and indentation)" in errors
    assert "spec.edgeWorker.hardExampleMining: required field is missing" in errors
    with pytest.raises(ResourceValidationError, match="unknown kind 'Pod'"):
        parse_resource({"apiVersion": "sedna.io/v1alpha1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}})
    with pytest.raises(ResourceValidationError, match="expected 'sedna.io/v1alpha1'"):
        parse_resource({"apiVersion": "sedna.io/v1", "kind": "Model", "metadata": {"name": "x"}, "spec": {}})


def test_hpa_and_timer_cross_field_rules() -> None:
    doc = copy.deepcopy(_doc("jointinferenceservice_v1alpha1.yaml"))
    doc["spec"]["cloudWorker"]["hpa"] = {"minReplicas": 3, "maxReplicas": 2}
    assert any("minReplicas (3) must not exceed maxReplicas (2)" in e for e in _errors(doc))
    doc = copy.deepcopy(_doc("lifelonglearningjobv1alpha1.yaml"))
    doc["spec"]["trainSpec"]["trigger"]["timer"] = {"start": "05:00", "end": "05:00"}
    assert any("empty window" in e for e in _errors(doc))


def test_status_round_trip_uses_sedna_json_names() -> None:
    doc = copy.deepcopy(_doc("lifelonglearningjobv1alpha1.yaml"))
    doc["status"] = {
        "conditions": [{"type": "Running", "status": "True", "stage": "Train", "data": "{}"}],
        "knowledgeBase": {
            "AIModels": {"numberOfAIModels": 2, "listOfAIModels": [{"modelID": "m1", "averagePrecision": 0.9, "numberOfTrainSamples": 10}]},
            "AIClasses": {"numberOfAIClasses": 1, "listOfAIClasses": ["a"]},
            "samples": {"numberOfLabeledUnseenSample": 3, "numberOfUnseenSample": 0},
        },
    }
    ll = parse_resource(doc)
    assert ll.status.knowledge_base.ai_models.number_of_ai_models == 2
    assert ll.to_wire()["status"]["knowledgeBase"] == doc["status"]["knowledgeBase"]
    assert ll.status.conditions[-1].stage == "Train"


def test_kind_lookup_by_any_name() -> None:
    assert kind_info("il").kind == "IncrementalLearningJob"
    assert kind_info("FederatedLearningJobs").kind == "FederatedLearningJob"
    assert kind_info("ji").plural == "jointinferenceservices"
    with pytest.raises(KeyError, match="unknown kind 'pods'"):
        kind_info("pods")
    assert set(KINDS) == {
        "Dataset", "Model", "JointInferenceService", "FederatedLearningJob", "IncrementalLearningJob", "LifelongLearningJob",
    }  # fmt: skip
