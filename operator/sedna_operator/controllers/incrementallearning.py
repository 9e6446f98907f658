"""IncrementalLearningJob: the inference worker from the start, then Train -> Eval -> Deploy rounds.

The cycle itself is :mod:`.cycle`; this module holds what is IL's own (reference §2.4): the
worker env and mounts, the deploy trigger on (new, old) eval metrics, and the two ways to deploy:
restarting the inference worker on the trained model, or a hot update (the LC copies the model
into the job's hot-update directory and writes ``model_config.json``, as asked in
``controllerState.deploy``; the worker reloads it and reports ``kind=deploy``).
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..api import IncrementalLearningJob
from . import triggers
from .common import Slot, cleanup_plan, event, iso, mount_set, typed
from .cycle import Cycle, Flavor, Step, dataset_format, round_data_path, run, stage_labels, stage_output
from .jointinference import hem_parameters_json
from .lifecycle import LEARNING_TERMS, with_run_policy
from .plan import Observation, Plan, WorkerPlan
from .state import IncrementalState
from .workers import WORKER_KEY_LABEL, PodExtras, build_worker, env, spec_hash, worker_name

__all__ = [
    "HOT_UPDATE_MOUNT",
    "HOT_UPDATE_CONFIG",
    "HOT_UPDATE_VOLUME",
    "HOT_UPDATE_ANNOTATION",
    "hot_update_dir",
    "reconcile",
    "cleanup",
    "FLAVOR",
]

HOT_UPDATE_MOUNT = "/model-hot-update"
HOT_UPDATE_CONFIG = f"{HOT_UPDATE_MOUNT}/model_config.json"
HOT_UPDATE_VOLUME = "sedna-model-hot-update-volume"
HOT_UPDATE_ANNOTATION = "sedna.io/model-hot-update-config"
DEFAULT_POLL_SECONDS = 60


def _job(cy: Cycle) -> IncrementalLearningJob:
    return typed(cy.job, IncrementalLearningJob)


def hot_update_dir(job: IncrementalLearningJob) -> str:
    """Host directory of the job's hot-update files: Sedna's path (lower-cased) plus the job's uid.

    Sedna's path alone outlives the job: a new job of the same name found the old job's
    ``model_config.json`` there, its inference worker loaded the old model at once and reported
    a deploy the new job never asked for (seen on a real node)."""
    base = f"/var/lib/sedna/model-hot-update/{job.namespace}/incrementallearningjob/{job.name}/".lower()
    return f"{base}{job.metadata.uid}/" if job.metadata.uid else base


def _hot(job: IncrementalLearningJob) -> bool:
    return bool(job.spec.deploy_spec.model.hot_update_enabled)


def _url(models: list[Any], index: int) -> str | None:
    if len(models) > index and isinstance(models[index], dict) and models[index].get("url"):
        return str(models[index]["url"])
    return None


def build_stage(cy: Cycle, stage: str, data: dict[str, Any], attempt: int) -> tuple[WorkerPlan, str]:
    """The train or eval worker of the current round (env and mounts of Sedna's §2.4)."""
    job = _job(cy)
    obs = cy.obs
    spec = job.spec
    role = "train" if stage == "Train" else "eval"
    key = f"{role}-r{cy.round}"
    inp = data.get("input", {}) if isinstance(data.get("input"), dict) else {}
    models = inp.get("models", []) or []
    dataset = obs.datasets.get(spec.dataset.name)
    initial = obs.models.get(spec.initial_model.name)
    mounts = mount_set(obs)
    if stage == "Train":
        base = _url(models, 0) or ""
        cred = initial.credential_name if initial is not None and base == initial.url else spec.credential_name
        mounts.add("BASE_MODEL_URL", base, credential_name=cred)
        out = inp.get("outputDir") or stage_output(spec.output_dir, "train", cy.round)
        mounts.add("MODEL_URL", out, download=False, credential_name=spec.credential_name, is_dir=True, create=True)
        mounts.add("TRAIN_DATASET_URL", inp.get("dataURL") or round_data_path(spec.output_dir, "train", cy.round, dataset_format(obs)),
                   credential_name=spec.credential_name)
        template = spec.train_spec.template
    else:
        urls = [m["url"] for m in models if isinstance(m, dict) and m.get("url")]
        mounts.add("MODEL_URLS", urls, credential_name=spec.credential_name)
        mounts.add("TEST_DATASET_URL", inp.get("dataURL") or round_data_path(spec.output_dir, "eval", cy.round, dataset_format(obs)),
                   credential_name=spec.credential_name)
        template = spec.eval_spec.template
    if dataset is not None:
        mounts.add("ORIGINAL_DATASET_URL", dataset.url, credential_name=dataset.credential_name)
    labels, annotations = stage_labels(key, cy.round)
    extras = PodExtras(
        env=[env("NAMESPACE", job.namespace), env("JOB_NAME", job.name)],
        restart_policy="OnFailure", host_network=True, labels=labels, annotations=annotations,
    )
    extras.extend(mounts.extras())
    inputs = {"input": inp, "dataset": [dataset.url, dataset.credential_name] if dataset else None,
              "credential": spec.credential_name}
    template_hash = spec_hash(template, inputs)
    plan = build_worker(job, role=role, template=template, attempt=f"{key}.{attempt}", extras=extras,
                        lc_server=obs.lc_server, template_hash=template_hash)
    return plan, template_hash


def _serving_model(cy: Cycle) -> tuple[str, str | None] | None:
    """(MODEL_URL, credential) of the inference worker: the deployed model, else the deploy Model."""
    job = _job(cy)
    model = cy.obs.models.get(job.spec.deploy_spec.model.name)
    deployed = cy.state_as(IncrementalState).deployed_model
    if deployed and not _hot(job):
        return str(deployed), job.spec.credential_name
    if model is None:
        return None
    return model.url, model.credential_name


def inference_slot(cy: Cycle) -> Slot | None:
    """The inference worker: from the start, hostNetwork, HEM env, hot update volume if enabled."""
    job = _job(cy)
    obs = cy.obs
    serving = _serving_model(cy)
    if serving is None:
        return None
    url, cred = serving
    deploy = job.spec.deploy_spec
    hot = _hot(job)
    role_env = [
        env("NAMESPACE", job.namespace),
        env("JOB_NAME", job.name),
        env("HEM_NAME", deploy.hard_example_mining.name),
        env("HEM_PARAMETERS", hem_parameters_json(deploy.hard_example_mining.parameters)),
    ]
    if hot:
        role_env += [
            env("MODEL_HOT_UPDATE", True),
            env("MODEL_POLL_PERIOD_SECONDS", deploy.model.poll_period_seconds or DEFAULT_POLL_SECONDS),
            env("MODEL_HOT_UPDATE_CONFIG", HOT_UPDATE_CONFIG),
        ]
        config = posixpath.join(hot_update_dir(job), "model_config.json")
        if job.metadata.annotations.get(HOT_UPDATE_ANNOTATION) != config:
            cy.plan.annotations[HOT_UPDATE_ANNOTATION] = config
    template_hash = spec_hash(deploy.template, {"model": url, "credential": cred, "hem": deploy.hard_example_mining.to_wire(),
                                                "hot": hot, "poll": deploy.model.poll_period_seconds})

    def build(attempt: int) -> WorkerPlan:
        mounts = mount_set(obs)
        mounts.add("MODEL_URL", url, credential_name=cred)
        extras = PodExtras(env=list(role_env), host_network=True, labels={WORKER_KEY_LABEL: "inference"})
        extras.extend(mounts.extras())
        if hot:
            extras.volumes.append({"name": HOT_UPDATE_VOLUME,
                                   "hostPath": {"path": hot_update_dir(job), "type": "DirectoryOrCreate"}})
            extras.volume_mounts.append({"name": HOT_UPDATE_VOLUME, "mountPath": HOT_UPDATE_MOUNT})
        return build_worker(job, role="inference", template=deploy.template, attempt=f"inference.{attempt}",
                            extras=extras, lc_server=obs.lc_server, template_hash=template_hash)

    return Slot("inference", build, template_hash)


def train_input(cy: Cycle, round_: int) -> dict[str, Any] | None:
    """Base model (latest trained, else the initial Model), round data file and output dir."""
    job = _job(cy)
    trained = cy.state.trained or []
    base = trained[0] if trained and isinstance(trained[0], dict) and trained[0].get("url") else None
    if base is None:
        initial = cy.obs.models.get(job.spec.initial_model.name)
        if initial is None:
            return None
        base = {"url": initial.url, "format": initial.format}
    out = job.spec.output_dir
    return {
        "models": [{"url": base["url"], "format": base.get("format", "")}],
        "dataURL": round_data_path(out, "train", round_, dataset_format(cy.obs)),
        "outputDir": stage_output(out, "train", round_),
    }


def _baseline_url(cy: Cycle) -> str | None:
    job = _job(cy)
    if job.spec.eval_spec.initial_eval_model is not None and cy.state_as(IncrementalState).deployed_model is None:
        model = cy.obs.models.get(job.spec.eval_spec.initial_eval_model.name)
        if model is not None:
            return model.url
    if cy.state_as(IncrementalState).deployed_model:
        return str(cy.state_as(IncrementalState).deployed_model)
    model = cy.obs.models.get(job.spec.deploy_spec.model.name)
    return model.url if model else None


def eval_input(cy: Cycle) -> dict[str, Any] | None:
    """The trained model and the baseline (initialEvalModel, else the model deployed now)."""
    trained = cy.state.trained or []
    baseline = _baseline_url(cy)
    if not trained or baseline is None:
        return None
    return {
        "models": [trained[0], {"url": baseline}],
        "dataURL": round_data_path(_job(cy).spec.output_dir, "eval", cy.round, dataset_format(cy.obs)),
    }


def _metrics(result: Any) -> dict[str, Any]:
    metrics = result.get("metrics") if isinstance(result, dict) else None
    return metrics if isinstance(metrics, dict) else {}


def deploy_decision(cy: Cycle) -> Step:
    """Deploy when the deploy trigger holds on the (new, old) eval metrics and its window is open."""
    job = _job(cy)
    evaluated = cy.state.evaluated or []
    if len(evaluated) < 2:
        cy.transit("Completed", "Deploy", "DeploySkipped",
                   f"eval reported {len(evaluated)} result(s); (new, old) are needed to compare")
        return Step(requeue_after=0.0)
    metrics = triggers.delta_metrics(_metrics(evaluated[0]), _metrics(evaluated[1]))
    trigger = job.spec.deploy_spec.trigger
    if not triggers.condition_holds(trigger.condition, metrics):
        c = trigger.condition
        cy.transit("Completed", "Deploy", "DeploySkipped",
                   f"deploy condition {c.metric} {c.operator} {c.threshold} does not hold", {"output": {"metrics": metrics}})
        return Step(requeue_after=0.0)
    if not triggers.in_window(trigger.timer, cy.now):
        return Step(requeue_after=triggers.seconds_until_open(trigger.timer, cy.now))
    deploy_model = cy.obs.models.get(job.spec.deploy_spec.model.name)
    cy.transit("Ready", "Deploy", "DeployTriggered", f"round {cy.round}: the new model is better",
               {"input": {"models": [evaluated[0], {"url": deploy_model.url if deploy_model else ""}]},
                "output": {"metrics": metrics}})
    return Step(requeue_after=0.0)


def deploy_ready(cy: Cycle) -> Step:
    """Restart the inference worker on the trained model, or ask the LC for a hot update."""
    job = _job(cy)
    trained = (cy.state.trained or [{}])[0].get("url")
    if not trained:
        cy.transit("Failed", "Deploy", "NoTrainedModel", "no trained model to deploy", warning=True)
        return Step(requeue_after=0.0)
    if not _hot(job):
        cy.state_as(IncrementalState).deployed_model = trained
        cy.transit("Completed", "Deploy", "Deployed", f"inference worker restarted on {trained}")
        return Step(requeue_after=0.0)
    directory = hot_update_dir(job)
    cy.state.deploy = {
        "round": cy.round,
        "kind": "hotUpdate",
        "source": trained,
        "target": posixpath.join(directory, posixpath.basename(trained.rstrip("/")) or "model"),
        "config": posixpath.join(directory, "model_config.json"),
        "modelPath": posixpath.join(HOT_UPDATE_MOUNT, posixpath.basename(trained.rstrip("/")) or "model"),
        "requestedAt": iso(cy.now),
    }
    cy.transit("Starting", "Deploy", "HotUpdateRequested", f"LC asked to hot-update the inference worker to {trained}")
    return Step(requeue_after=5.0)


def deploy_running(cy: Cycle, ctype: str) -> Step:
    """Hot update in progress: the inference worker's ``kind=deploy`` report ends it."""
    job = _job(cy)
    request = cy.state.deploy or {}
    name = worker_name(job, "inference", f"inference.{cy.attempts().get('inference', 0)}")
    report = cy.obs.reports.get(name)
    requested = request.get("requestedAt")
    fresh = report is not None and report.kind.lower() == "deploy" and (not requested or iso(report.received_at) >= requested)
    if fresh and report is not None and report.status.lower() == "completed":
        cy.state_as(IncrementalState).deployed_model = request.get("source")
        cy.transit("Completed", "Deploy", "HotUpdated", f"{name} loaded {request.get('source')}")
        return Step(requeue_after=0.0)
    if fresh and report is not None and report.status.lower() == "failed":
        cy.transit("Failed", "Deploy", "HotUpdateFailed", f"{name} failed to load {request.get('source')}", warning=True)
        return Step(requeue_after=0.0)
    worker = next((w for w in cy.obs.workers if w.name == name and not w.deleting), None)
    if worker is not None and worker.phase == "Succeeded" and cy.obs.lc_files.get(str(request.get("target"))) is not False:
        # The inference worker ended on its own (a finite stream) and is not restarted: nobody
        # will load the update, so waiting for its report would wait forever. The LC has put the
        # model in place; a later inference worker starts on it.
        cy.state_as(IncrementalState).deployed_model = request.get("source")
        cy.transit("Completed", "Deploy", "Deployed",
                   f"{name} has ended; the new model is in place for the next inference worker")
        return Step(requeue_after=0.0)
    if ctype == "Starting" and worker is not None and worker.phase == "Running":
        if worker.node:
            cy.plan.annotations["sedna.io/Deploy"] = worker.node
        cy.transit("Running", "Deploy", "HotUpdating", f"waiting for {name} to load the new model")
    if not _hot(job):  # hot update switched off meanwhile: deploy by restart
        event(cy.plan, "HotUpdateDisabled", "hot update was disabled; deploying by restart")
        cy.state_as(IncrementalState).deployed_model = request.get("source")
        cy.transit("Completed", "Deploy", "Deployed", "inference worker restarted on the new model")
        return Step(requeue_after=0.0)
    return Step(requeue_after=10.0)


FLAVOR = Flavor(
    kind="IncrementalLearningJob",
    build_stage=build_stage,
    inference_slot=inference_slot,
    train_input=train_input,
    eval_input=eval_input,
    deploy_decision=deploy_decision,
    deploy_ready=deploy_ready,
    deploy_running=deploy_running,
    status_extras=lambda cy: {},
    train_trigger=lambda job: job.spec.train_spec.trigger,
    state_type=IncrementalState,
)


def reconcile(obs: Observation) -> Plan:
    """One step of the incremental-learning cycle."""
    typed(obs.resource, IncrementalLearningJob)
    return with_run_policy(obs, lambda o: run(o, FLAVOR), LEARNING_TERMS)


def cleanup(obs: Observation) -> Plan:
    """Delete every worker of the job (it owns no Service)."""
    return cleanup_plan(obs)
