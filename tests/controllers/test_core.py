"""The runtime-neutral core's pure parts: the time parser, the report codec, the raw-object ->
Observation functions and the kind registry both runtimes use."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

from sedna_operator.api import parse_resource
from sedna_operator.controllers.plan import WorkerReport
from sedna_operator.core.observation import (
    credential_names,
    observation,
    observed_dataset,
    observed_secret,
    referenced_names,
)
from sedna_operator.core.registry import CONTROLLERS, SETTLING_KINDS
from sedna_operator.core.reports import parse_report, report_from_wire, report_to_wire, reports_of
from sedna_operator.core.times import iso, parse_time

from .helpers import NOW, sample


def test_one_time_parser_reads_what_every_writer_writes() -> None:
    assert parse_time("2024-05-01T12:00:00Z") == NOW
    assert parse_time("2024-05-01T14:00:00+02:00") == NOW
    assert parse_time("2024-05-01T12:00:00") == NOW  # no zone: UTC, so it compares with aware times
    assert parse_time(NOW) is NOW and parse_time(iso(NOW)) == NOW
    assert parse_time(datetime(2024, 5, 1, 12)) == NOW
    assert parse_time(datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))) == NOW
    for bad in (None, "", "yesterday", 17):
        assert parse_time(bad) is None


def test_one_report_codec_reads_both_spellings_and_skips_broken_entries() -> None:
    report = WorkerReport(worker="w", kind="train", status="completed", owner_info={"r": 1},
                          results=[{"url": "u"}], received_at=NOW, sequence=2)  # fmt: skip
    wire = report_to_wire(report)
    assert report_from_wire("w", wire) == report
    snake = {"kind": "train", "status": "completed", "owner_info": {"r": 1}, "results": [{"url": "u"}],
             "received_at": "2024-05-01T12:00:00Z", "sequence": 2}  # fmt: skip
    assert report_from_wire("w", snake) == report
    assert parse_report("w", {**wire, "receivedAt": "not a time"}) is None
    assert parse_report("w", "not an object") is None
    obj = {"status": {"reports": {"w": wire, "x": {"receivedAt": "bad"}, "y": 3}}}
    assert reports_of(obj) == {"w": report}


def test_dataset_credentials_and_update_time_are_observed() -> None:
    raw = {"metadata": {"name": "ds"},
           "spec": {"url": "s3://b/i.txt", "format": "txt", "nodeName": "n1", "credentialName": "cred"},
           "status": {"numberOfSamples": 7, "updateTime": "2024-05-01T12:00:00Z"}}  # fmt: skip
    ds = observed_dataset(raw)
    assert (ds.credential_name, ds.number_of_samples, ds.update_time, ds.node_name) == ("cred", 7, NOW, "n1")
    assert observed_dataset({"metadata": {"name": "d"}, "spec": {"url": "/d"}}).credential_name is None
    assert credential_names([raw, {"spec": {}}, {"spec": {"credentialName": "m-cred"}}]) == {"cred", "m-cred"}


def test_secret_data_is_decoded_only_when_asked() -> None:
    raw = {"metadata": {"name": "s", "annotations": {"s3-endpoint": "e"}},
           "data": {"K": base64.b64encode(b"v").decode(), "BAD": "%%"}, "stringData": {"S": "w"}}  # fmt: skip
    assert observed_secret(raw, with_data=True).data == {"K": "v", "S": "w"}
    assert observed_secret(raw, with_data=False).data == {}
    assert observed_secret(raw, with_data=False).annotations == {"s3-endpoint": "e"}


def test_referenced_names_of_a_sample() -> None:
    spec = sample("incrementallearningjob_v1alpha1.yaml")["spec"]
    datasets, models, secrets = referenced_names(spec)
    assert datasets == {spec["dataset"]["name"]}
    assert models == {spec["initialModel"]["name"], spec["deploySpec"]["model"]["name"]}
    assert secrets == set()


def test_observation_keys_what_it_converts_by_name() -> None:
    resource = parse_resource(sample("incrementallearningjob_v1alpha1.yaml"))
    obs = observation(
        resource, now=NOW, lc_server="http://lc", kb_server="http://kb",
        datasets=[{"metadata": {"name": "d"}, "spec": {"url": "/d", "credentialName": "c"}}],
        models=[{"metadata": {"name": "m"}, "spec": {"url": "/m"}}],
        secrets=[{"metadata": {"name": "c"}, "stringData": {"A": "b"}}], secret_data=False,
    )  # fmt: skip
    assert obs.datasets["d"].credential_name == "c" and obs.models["m"].url == "/m"
    assert obs.secrets["c"].data == {} and obs.deployments is None and obs.now == NOW
    assert obs.now.tzinfo is UTC


def test_one_registry_has_every_kind_model_included() -> None:
    assert set(CONTROLLERS) == {
        "Dataset", "Model", "JointInferenceService", "FederatedLearningJob",
        "IncrementalLearningJob", "LifelongLearningJob",
    }  # fmt: skip
    assert all(CONTROLLERS[k].cleanup is not None for k in CONTROLLERS)
    assert set(SETTLING_KINDS) == {"Dataset", "Model"}
