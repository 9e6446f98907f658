"""Tier 3: incremental and lifelong learning on the real API server, operator and LC together.

The operator runs in-process as the chart's operator ServiceAccount and the LC's node loop
(dataset counting + the IL/LL file work, ``runtime.kubernetes.lcnode.follow_node``) as the
chart's LC ServiceAccount, for a "node" whose host ``/`` is a temporary directory (the
DaemonSet's ``ROOTFS_MOUNT_DIR``). Pod phases are driven by patching pod status; worker
reports go through the LC app with the job token the operator injected.

Sedna's samples train only inside the timer window 02:00-24:00 (wall-clock, UTC here): the
full cycle runs on copies without the timer (and, for IL, with hot update on); the unchanged
IL sample is applied too and must start its inference worker and wait for the trigger.
"""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sedna_operator.lc import LCSettings, create_app
from sedna_operator.lc.datasets import DatasetMonitor
from sedna_operator.runtime.kubernetes.client import KubeClient, load_credentials
from sedna_operator.runtime.kubernetes.lcnode import follow_node
from sedna_operator.runtime.kubernetes.operator import OperatorThread
from sedna_operator.runtime.kubernetes.sink import KubernetesReportSink
from tests.kube.test_operator_fixtures import SAMPLES as SAMPLES_DIR
from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    env_of,
    events,
    model,
    namespace,
    operator_config,
    pods,
    sample,
    set_pod_phase,
    table,
    wait_for,
)
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

SECRET = "test-lc-secret"
IL = "helmet-detection-demo"
LL = "atcii-classifier-demo"
IL_LABEL = "incrementallearningjob.sedna.io"
LL_LABEL = "lifelonglearningjob.sedna.io"
SAMPLES = 700  # int(0.8 * 700) = 560 new training samples > the samples' threshold of 500


@pytest.fixture(scope="module")
def op(chart_identities: dict[str, Path]) -> Iterator[OperatorThread]:
    """The operator of this module: it injects report tokens derived from SECRET."""
    thread = OperatorThread(operator_config(chart_identities["operator"], lc_secret=SECRET)).start()
    try:
        yield thread
    finally:
        thread.stop()
    assert thread.error is None, thread.error


class NodeLC:
    """The LC DaemonSet's background loops for one node, on a thread (no HTTP server)."""

    def __init__(self, kubeconfig: Path, node: str, rootfs: Path, spool: Path) -> None:
        self.kubeconfig = kubeconfig
        self.spool = spool
        self.settings = LCSettings.for_local(
            secret=SECRET, node_name=node, rootfs_mount_dir=str(rootfs),
            dataset_poll_seconds=0.2, job_poll_seconds=0.3,
        )  # fmt: skip
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        client = KubeClient(load_credentials(str(self.kubeconfig)), user_agent="sedna-lc")
        sink = KubernetesReportSink(client, self.spool)
        monitor = DatasetMonitor(sink, interval=0.2, rootfs=self.settings.rootfs_mount_dir)
        tasks = [
            asyncio.create_task(monitor.run()),
            asyncio.create_task(follow_node(client, sink, monitor, self.settings)),
        ]
        try:
            await self._stop.wait()
        finally:
            monitor.stop()
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    self.error = result
            await sink.close()

    def __enter__(self) -> NodeLC:
        self._thread.start()
        wait_for(lambda: self._stop is not None, "the LC loop")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def report(kubeconfig: Path, spool: Path, pod: dict[str, Any], body: dict[str, Any]) -> None:
    """POST a worker report through the LC app, with the token the operator gave the worker."""
    name = pod["metadata"]["name"]
    token = env_of(pod)["SEDNA_REPORT_TOKEN"]
    body = {"name": name, "namespace": pod["metadata"]["namespace"], **body}

    async def post() -> httpx.Response:
        sink = KubernetesReportSink(KubeClient(load_credentials(str(kubeconfig))), spool)
        app = create_app(LCSettings.for_local(secret=SECRET), sink)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc") as c:
                return await c.post(
                    f"/sedna/workers/{name}/info", json=body, headers={"Authorization": f"Bearer {token}"}
                )
        finally:
            await sink.close()

    response = asyncio.run(post())
    assert response.status_code == 200, response.text


def host(rootfs: Path, path: str) -> Path:
    return rootfs / path.lstrip("/")


def inputs(kube: ControlPlane, ns: str, rootfs: Path, dataset: str, node: str, url: str) -> None:
    """The dataset index with SAMPLES lines on the node, its Dataset and the samples' Models."""
    lines = "".join(f"images/{i:04d}.jpg {i % 4}\n" for i in range(SAMPLES))
    host(rootfs, url).parent.mkdir(parents=True, exist_ok=True)
    host(rootfs, url).write_text(lines)
    apply(kube, ns, [
        {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": dataset},
         "spec": {"url": url, "format": "txt", "nodeName": node}},
        model("initial-model", "/models/initial/model.pb"),
        model("deploy-model", "/models/deploy/model.pb"),
    ])  # fmt: skip


def get(kube: ControlPlane, kind: str, name: str, ns: str) -> dict[str, Any]:
    obj: dict[str, Any] = kube.kubectl_json("get", kind, name, "-n", ns)
    return obj


def last_condition(obj: dict[str, Any]) -> tuple[str, str]:
    cond = ((obj.get("status") or {}).get("conditions") or [{}])[-1]
    return cond.get("type", ""), cond.get("stage", "")


def worker(kube: ControlPlane, ns: str, label: str, role: str, what: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (p := pods(kube, ns, f"{label}/worker-type={role}")) and p[0], what, timeout=40
    )
    return found


def host_paths(pod: dict[str, Any]) -> set[str]:
    return {v["hostPath"]["path"] for v in pod["spec"].get("volumes", []) if "hostPath" in v}


def without_timer(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    del out["spec"]["trainSpec"]["trigger"]["timer"]
    return out


def test_il_sample_unchanged_starts_inference_and_waits_for_the_trigger(
    kube: ControlPlane, op: OperatorThread, namespace: str, tmp_path: Path
) -> None:
    inputs(kube, namespace, tmp_path, "incremental-dataset", "il-idle-node", "/data/il/train.txt")
    # The file as it is: kubectl reads ``24:00`` as a string, PyYAML would read 1440.
    apply(kube, namespace, (SAMPLES_DIR / "incrementallearningjob_v1alpha1.yaml").read_text())
    infer = worker(kube, namespace, IL_LABEL, "inference", "the inference worker")
    env = env_of(infer)
    assert env["HEM_NAME"] == "IBT" and env["JOB_NAME"] == IL and "MODEL_URL" in env
    assert infer["spec"]["hostNetwork"] is True and infer["spec"]["nodeName"] == "edge-node"
    job = wait_for(lambda: last_condition(j := get(kube, "il", IL, namespace)) == ("Waiting", "Train") and j,
                   "Waiting/Train")  # fmt: skip
    assert job["status"]["startTime"]
    assert not pods(kube, namespace, f"{IL_LABEL}/worker-type=train"), "no samples counted: no training"


def test_il_cycle_with_the_lc_of_the_dataset_node(
    kube: ControlPlane, op: OperatorThread, chart_identities: dict[str, Path], namespace: str, tmp_path: Path
) -> None:
    rootfs, spool = tmp_path / "rootfs", tmp_path / "spool"
    lc_config = chart_identities["lc"]
    doc = without_timer(sample("incrementallearningjob_v1alpha1.yaml"))
    doc["spec"]["deploySpec"]["model"].update(hotUpdateEnabled=True, pollPeriodSeconds=5)
    hot_dir = f"/var/lib/sedna/model-hot-update/{namespace}/incrementallearningjob/{IL}/"
    with NodeLC(lc_config, "il-node", rootfs, spool) as lc:
        inputs(kube, namespace, rootfs, "incremental-dataset", "il-node", "/data/il/train.txt")
        wait_for(lambda: (get(kube, "dataset", "incremental-dataset", namespace).get("status") or {})
                 .get("numberOfSamples") == SAMPLES, "the LC counting the samples")  # fmt: skip
        apply(kube, namespace, doc)
        # Sedna's hot-update path plus the job's uid (a later job of the same name starts clean).
        hot_dir += get(kube, "incrementallearningjob", IL, namespace)["metadata"]["uid"] + "/"
        # The inference worker from the start, with Sedna's hot update volume, env and annotation.
        infer = worker(kube, namespace, IL_LABEL, "inference", "the inference worker")
        env = env_of(infer)
        assert env["MODEL_HOT_UPDATE"] == "true" and env["MODEL_POLL_PERIOD_SECONDS"] == "5"
        assert env["MODEL_HOT_UPDATE_CONFIG"] == "/model-hot-update/model_config.json"
        volume = next(v for v in infer["spec"]["volumes"] if v["name"] == "sedna-model-hot-update-volume")
        assert volume["hostPath"]["path"] == hot_dir
        assert {"name": "sedna-model-hot-update-volume", "mountPath": "/model-hot-update"} in [
            {k: m[k] for k in ("name", "mountPath")} for m in infer["spec"]["containers"][0]["volumeMounts"]
        ]
        # The LC writes round 1's files on the node; then the train worker is created.
        train = worker(kube, namespace, IL_LABEL, "train", "the round-1 train worker")
        train_file = host(rootfs, "/output/data/train/1/data.txt")
        eval_file = host(rootfs, "/output/data/eval/1/data.txt")
        assert len(train_file.read_text().splitlines()) == 560
        assert len(eval_file.read_text().splitlines()) == 140
        assert train_file.read_text().splitlines()[0] == "images/0000.jpg 0"
        job = get(kube, "il", IL, namespace)
        assert (
            job["metadata"]["annotations"]["sedna.io/model-hot-update-config"]
            == hot_dir + "model_config.json"
        )
        assert job["status"]["lcState"]["files"] == {
            "/output/data/train/1/data.txt": True, "/output/data/eval/1/data.txt": True,
        }  # fmt: skip
        assert job["status"]["lcState"]["evalVersions"] == {"1": [0, SAMPLES, 0.8]}
        tenv = env_of(train)
        assert {"BASE_MODEL_URL", "MODEL_URL", "TRAIN_DATASET_URL", "ORIGINAL_DATASET_URL"} <= set(tenv)
        assert tenv["NAMESPACE"] == namespace and tenv["JOB_NAME"] == IL and tenv["LC_SERVER"]
        assert train["spec"]["hostNetwork"] is True and train["spec"]["restartPolicy"] == "OnFailure"
        assert any("/output/data/train/1" in p for p in host_paths(train)), host_paths(train)
        assert train["spec"]["nodeName"] == "edge-node"
        # The train worker finishes and reports its model.
        trained = "/output/train/1/model.pb"
        host(rootfs, trained).parent.mkdir(parents=True)
        host(rootfs, trained).write_bytes(b"trained weights")
        set_pod_phase(kube, namespace, train["metadata"]["name"], "Running")
        report(
            lc_config,
            spool,
            train,
            {
                "ownerName": IL,
                "ownerKind": "incrementallearningjob",
                "kind": "train",
                "status": "completed",
                "results": [{"format": "pb", "url": trained}],
            },
        )
        set_pod_phase(kube, namespace, train["metadata"]["name"], "Succeeded", exit_code=0)
        evaluator = worker(kube, namespace, IL_LABEL, "eval", "the round-1 eval worker")
        assert "MODEL_URLS" in env_of(evaluator) and "TEST_DATASET_URL" in env_of(evaluator)
        assert any("/output/data/eval/1" in p for p in host_paths(evaluator)), host_paths(evaluator)
        set_pod_phase(kube, namespace, evaluator["metadata"]["name"], "Running")
        report(lc_config, spool, evaluator, {
            "ownerName": IL, "ownerKind": "incrementallearningjob", "kind": "eval", "status": "completed",
            "results": [{"url": trained, "metrics": {"precision": 0.9}},
                        {"url": "/models/deploy/model.pb", "metrics": {"precision": 0.5}}],
        })  # fmt: skip
        set_pod_phase(kube, namespace, evaluator["metadata"]["name"], "Succeeded", exit_code=0)
        # precision_delta 0.4 > 0.1: the LC hot-updates the model on the node.
        config = host(rootfs, hot_dir + "model_config.json")
        wait_for(config.exists, "model_config.json written by the LC", timeout=40)
        assert json.loads(config.read_text())["model_config"]["model_path"] == "/model-hot-update/model.pb"
        assert host(rootfs, hot_dir + "model.pb").read_bytes() == b"trained weights"
        job = wait_for(lambda: (j := get(kube, "il", IL, namespace))["status"].get("lcState", {}).get("deploys")
                       and j, "the deploy recorded in lcState")  # fmt: skip
        assert list(job["status"]["lcState"]["deploys"].values()) == ["done"]
        assert last_condition(job) == ("Starting", "Deploy") or last_condition(job) == ("Running", "Deploy")
        # The inference worker loads it and reports kind=deploy: the round completes.
        report(
            lc_config,
            spool,
            infer,
            {"ownerName": IL, "ownerKind": "incrementallearningjob", "kind": "deploy", "status": "completed"},
        )

        def round_completed() -> dict[str, Any] | None:
            j = get(kube, "il", IL, namespace)
            done = j["status"].get("controllerState", {}).get("completedRounds") == 1
            return j if done and last_condition(j) == ("Waiting", "Train") else None

        job = wait_for(round_completed, "round 1 completed")
    assert lc.error is None
    types = [(c["type"], c["stage"]) for c in job["status"]["conditions"]]
    for step in [("Ready", "Train"), ("Completed", "Train"), ("Completed", "Eval"), ("Ready", "Deploy"),
                 ("Completed", "Deploy")]:  # fmt: skip
        assert step in types, types
    row = table(kube, "il", IL, "-n", namespace)[0]
    assert (row["STAGE"], row["STATE"], row["ROUND"]) == ("Train", "Waiting", "1")
    reasons = {e["reason"] for e in events(kube, namespace, IL)}
    assert {"RoundDataWritten", "DeployCopied", "HotUpdated"} <= reasons, reasons
    assert op.engine.errors == 0


def test_ll_cycle_up_to_the_first_inference_worker(
    kube: ControlPlane, op: OperatorThread, chart_identities: dict[str, Path], namespace: str, tmp_path: Path
) -> None:
    rootfs, spool = tmp_path / "rootfs", tmp_path / "spool"
    lc_config = chart_identities["lc"]
    with NodeLC(lc_config, "ll-node", rootfs, spool) as lc:
        inputs(kube, namespace, rootfs, "lifelong-dataset", "ll-node", "/data/ll/train.txt")
        wait_for(lambda: (get(kube, "dataset", "lifelong-dataset", namespace).get("status") or {})
                 .get("numberOfSamples") == SAMPLES, "the LC counting the samples")  # fmt: skip
        apply(kube, namespace, without_timer(sample("lifelonglearningjobv1alpha1.yaml")))
        train = worker(kube, namespace, LL_LABEL, "train", "the round-1 train worker")
        assert not pods(kube, namespace, f"{LL_LABEL}/worker-type=inference"), (
            "LL: no inference before a deploy"
        )
        assert len(host(rootfs, "/output/data/train/1/data.txt").read_text().splitlines()) == 560
        tenv = env_of(train)
        assert (
            tenv["HAS_COMPLETED_INITIAL_TRAINING"] == "false" and "KB_SERVER" in tenv and "OUTPUT_URL" in tenv
        )
        index = "/output/train/1/index.pkl"
        report(
            lc_config,
            spool,
            train,
            {
                "ownerName": LL,
                "ownerKind": "lifelonglearningjob",
                "kind": "train",
                "status": "completed",
                "results": [{"url": index, "metrics": {"task-0": 420, "task-1": 140}}],
            },
        )
        set_pod_phase(kube, namespace, train["metadata"]["name"], "Succeeded", exit_code=0)
        evaluator = worker(kube, namespace, LL_LABEL, "eval", "the round-1 eval worker")
        evaluated = "/output/eval/1/index.pkl"
        host(rootfs, evaluated).parent.mkdir(parents=True)
        host(rootfs, evaluated).write_bytes(b"kb index")
        report(
            lc_config,
            spool,
            evaluator,
            {
                "ownerName": LL,
                "ownerKind": "lifelonglearningjob",
                "kind": "eval",
                "status": "completed",
                "results": [{"url": evaluated, "metrics": {"task-0": 0.9, "task-1": 0.7}}],
            },
        )
        set_pod_phase(kube, namespace, evaluator["metadata"]["name"], "Succeeded", exit_code=0)
        # The LC copies the evaluated index to <outputDir>/deploy/index.pkl; then the inference worker.
        infer = worker(kube, namespace, LL_LABEL, "inference", "the inference worker after the first deploy")
        assert host(rootfs, "/output/deploy/index.pkl").read_bytes() == b"kb index"
        ienv = env_of(infer)
        assert "MODEL_URLS" in ienv and "OUTPUT_URL" in ienv and infer["spec"]["hostNetwork"] is True
        assert any("/output/deploy" in p for p in host_paths(infer)), host_paths(infer)
        job = wait_for(lambda: (j := get(kube, "ll", LL, namespace))["status"].get("knowledgeBase") and j,
                       "status.knowledgeBase")  # fmt: skip
    assert lc.error is None
    kb = job["status"]["knowledgeBase"]
    assert kb["AIModels"]["numberOfAIModels"] == 2
    assert {m["modelID"] for m in kb["AIModels"]["listOfAIModels"]} == {"task-0", "task-1"}
    # The inference worker above waited for the LC's "done". Once the round completes, the
    # reconciler deletes its request (controllerState.deploy) and the LC then its record.
    deploys = (job["status"].get("lcState") or {}).get("deploys") or {}
    assert set(deploys.values()) <= {"done"}
    if "deploy" in (job["status"].get("controllerState") or {}):
        assert list(deploys.values()) == ["done"]
    assert op.engine.errors == 0
