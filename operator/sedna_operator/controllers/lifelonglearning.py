"""LifelongLearningJob: Train -> Eval -> Deploy with a knowledge base (reference §2.5).

Differences from IL: workers get ``KB_SERVER`` and ``OUTPUT_URL``; train gets
``HAS_COMPLETED_INITIAL_TRAINING`` and, after the first round, ``CLOUD_KB_INDEX``; there is no
deploy trigger: the KB index the eval reported is copied by the LC to
``<outputDir>/deploy/index.pkl`` (asked in ``controllerState.deploy``) and the inference worker,
created only after the first deploy. Later deploys replace the index in place and the running
worker swaps it in (Sedna's edge hot update, ``MODEL_POLL_PERIOD_SECONDS``); only a deploy that
finds no serving inference worker starts a new one. ``status.knowledgeBase`` is rebuilt from the
workers' reports, ``samples.numberOfUnseenSample`` from the inference workers' counts.
"""

from __future__ import annotations

from typing import Any

from ..api import LifelongLearningJob
from .common import Slot, cleanup_plan, iso, mount_set, typed
from .cycle import (
    Cycle,
    Flavor,
    Step,
    dataset_format,
    join_url,
    round_data_path,
    run,
    stage_labels,
    stage_output,
)
from .lifecycle import LEARNING_TERMS, with_run_policy
from .plan import Observation, Plan, WorkerPlan, WorkerReport
from .state import LifelongState
from .workers import WORKER_KEY_LABEL, PodExtras, build_worker, env, spec_hash

__all__ = ["deploy_index", "knowledge_base_from", "unseen_samples_from", "reconcile", "cleanup", "FLAVOR"]


def _job(cy: Cycle) -> LifelongLearningJob:
    return typed(cy.job, LifelongLearningJob)


def deploy_index(output_dir: str) -> str:
    """``<outputDir>/deploy/index.pkl``: what the inference worker loads."""
    return join_url(output_dir, "deploy", "index.pkl")


def build_stage(cy: Cycle, stage: str, data: dict[str, Any], attempt: int) -> tuple[WorkerPlan, str]:
    """The train or eval worker of the current round."""
    job = _job(cy)
    obs = cy.obs
    spec = job.spec
    role = "train" if stage == "Train" else "eval"
    key = f"{role}-r{cy.round}"
    inp = data.get("input", {}) if isinstance(data.get("input"), dict) else {}
    dataset = obs.datasets.get(spec.dataset.name)
    mounts = mount_set(obs)
    role_env = [env("NAMESPACE", job.namespace), env("JOB_NAME", job.name), env("KB_SERVER", obs.kb_server)]
    out = inp.get("outputDir") or stage_output(spec.output_dir, role, cy.round)
    if stage == "Train":
        previous = inp.get("cloudKBIndex")
        role_env.append(env("HAS_COMPLETED_INITIAL_TRAINING", bool(previous)))
        if previous:
            role_env.append(env("CLOUD_KB_INDEX", previous))
        mounts.add("OUTPUT_URL", out, download=False, credential_name=spec.credential_name, is_dir=True, create=True)
        mounts.add("TRAIN_DATASET_URL", inp.get("dataURL") or round_data_path(spec.output_dir, "train", cy.round, dataset_format(obs)),
                   credential_name=spec.credential_name)
        template = spec.train_spec.template
    else:
        urls = [m["url"] for m in inp.get("models", []) or [] if isinstance(m, dict) and m.get("url")]
        # The KB index is often a KB download URL with a query: the SDK fetches it itself.
        mounts.add("MODEL_URLS", urls, download=False, credential_name=spec.credential_name)
        mounts.add("OUTPUT_URL", out, download=False, credential_name=spec.credential_name, is_dir=True, create=True)
        mounts.add("TEST_DATASET_URL", inp.get("dataURL") or round_data_path(spec.output_dir, "eval", cy.round, dataset_format(obs)),
                   credential_name=spec.credential_name)
        template = spec.eval_spec.template
    if dataset is not None:
        mounts.add("ORIGINAL_DATASET_URL", dataset.url, credential_name=dataset.credential_name)
    labels, annotations = stage_labels(key, cy.round)
    extras = PodExtras(env=role_env, restart_policy="OnFailure", host_network=True, labels=labels, annotations=annotations)
    extras.extend(mounts.extras())
    inputs = {"input": inp, "dataset": [dataset.url, dataset.credential_name] if dataset else None,
              "credential": spec.credential_name, "kb": obs.kb_server}
    template_hash = spec_hash(template, inputs)
    plan = build_worker(job, role=role, template=template, attempt=f"{key}.{attempt}", extras=extras,
                        lc_server=obs.lc_server, template_hash=template_hash)
    return plan, template_hash


def inference_slot(cy: Cycle) -> Slot | None:
    """The inference worker exists only once a KB index has been deployed."""
    job = _job(cy)
    deployed_round = cy.state_as(LifelongState).deployed_round
    if not deployed_round:
        return None
    obs = cy.obs
    spec = job.spec
    index = deploy_index(spec.output_dir)
    # The round the worker was last started for (state from before hot updates: the deployed
    # round, so an upgrade does not restart a serving worker).
    epoch = cy.state_as(LifelongState).inference_epoch or deployed_round
    template_hash = spec_hash(spec.deploy_spec.template,
                              {"index": index, "round": epoch, "credential": spec.credential_name})

    def build(attempt: int) -> WorkerPlan:
        mounts = mount_set(obs)
        mounts.add("MODEL_URLS", index, download=False, credential_name=spec.credential_name, create=True)
        mounts.add("OUTPUT_URL", spec.output_dir, download=False, credential_name=spec.credential_name, is_dir=True,
                   create=True)
        extras = PodExtras(env=[env("NAMESPACE", job.namespace), env("JOB_NAME", job.name)], host_network=True,
                           labels={WORKER_KEY_LABEL: "inference"})
        extras.extend(mounts.extras())
        return build_worker(job, role="inference", template=spec.deploy_spec.template, attempt=f"inference.{attempt}",
                            extras=extras, lc_server=obs.lc_server, template_hash=template_hash)

    return Slot("inference", build, template_hash)


def train_input(cy: Cycle, round_: int) -> dict[str, Any] | None:
    out = _job(cy).spec.output_dir
    trained = cy.state.trained or []
    previous = trained[0].get("url") if trained and isinstance(trained[0], dict) else None
    data: dict[str, Any] = {
        "models": [],
        "dataURL": round_data_path(out, "train", round_, dataset_format(cy.obs)),
        "outputDir": stage_output(out, "train", round_),
    }
    if previous:
        data["cloudKBIndex"] = previous
    return data


def eval_input(cy: Cycle) -> dict[str, Any] | None:
    trained = cy.state.trained or []
    if not trained:
        return None
    out = _job(cy).spec.output_dir
    return {
        "models": trained,
        "dataURL": round_data_path(out, "eval", cy.round, dataset_format(cy.obs)),
        "outputDir": stage_output(out, "eval", cy.round),
    }


def deploy_decision(cy: Cycle) -> Step:
    """LL has no deploy trigger: deploy the KB index the eval reported, if it reported one."""
    evaluated = cy.state.evaluated or []
    if not evaluated or not isinstance(evaluated[0], dict) or not evaluated[0].get("url"):
        cy.transit("Completed", "Deploy", "DeploySkipped", "eval reported no knowledge-base index")
        return Step(requeue_after=0.0)
    cy.transit("Ready", "Deploy", "DeployReady", f"round {cy.round}: deploying the knowledge-base index",
               {"input": {"models": [evaluated[0]]}})
    return Step(requeue_after=0.0)


def deploy_ready(cy: Cycle) -> Step:
    """Ask the LC to copy the index; once it is there, (re)start the inference worker."""
    job = _job(cy)
    target = deploy_index(job.spec.output_dir)
    request = cy.state.deploy
    if not isinstance(request, dict) or request.get("round") != cy.round:
        source = (cy.state.evaluated or [{}])[0].get("url")
        cy.state.deploy = {"round": cy.round, "kind": "copy", "source": source, "target": target,
                              "requestedAt": iso(cy.now)}
        return Step(requeue_after=0.0 if cy.obs.lc_files.get(target) is not False else 2.0)
    if cy.obs.lc_files.get(target) is False:
        return Step(requeue_after=2.0)
    cy.state_as(LifelongState).deployed_round = cy.round
    if cy.state_as(LifelongState).inference_epoch and _serving_inference(cy):
        cy.transit("Completed", "Deploy", "HotUpdated",
                   f"round {cy.round}: {target} replaced; the inference worker swaps it in without a restart")
    else:
        cy.state_as(LifelongState).inference_epoch = cy.round
        cy.transit("Completed", "Deploy", "Deployed", f"inference worker started on {target}")
    return Step(requeue_after=0.0)


def _serving_inference(cy: Cycle) -> bool:
    return any(w.role == "inference" and w.serving and not w.deleting for w in cy.obs.workers)


def deploy_running(cy: Cycle, ctype: str) -> Step:
    """Not used by LL (deploys complete from Ready); recover by completing the stage."""
    cy.transit("Completed", "Deploy", "Deployed", "deploy completed")
    return Step(requeue_after=0.0)


def _task_scores(result: dict[str, Any]) -> dict[str, Any] | None:
    """``metrics`` of an index result when it maps task entries to numbers, else None."""
    metrics = result.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()):
        return None
    return metrics


def _knowledge_base_from_task_metrics(reports: list[WorkerReport]) -> dict[str, Any] | None:
    """The SDK's reports carry no ``current_metric``: its eval result's ``metrics`` map each task
    to its score and its train result's ``metrics`` map each task to its sample count.

    The knowledge base keeps tasks across rounds (a round trains and scores only the tasks it has
    samples of), so every round's reports are merged, oldest first: a task shows its newest score
    and count, and a task of an earlier round stays listed.
    """
    oldest_first = sorted(reports, key=lambda r: (r.received_at, r.sequence))
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in oldest_first:
        metrics = _task_scores(r.results[0]) if r.results else None
        if not metrics:
            continue
        if r.kind.lower() == "eval":
            scores.update({str(k): float(v) for k, v in metrics.items()})
        elif r.kind.lower() == "train":
            counts.update({str(k): int(v) for k, v in metrics.items()})
    if not scores and not counts:
        return None
    ai_models = []
    for task in dict.fromkeys([*counts, *scores]):
        entry: dict[str, Any] = {"modelID": task, "numberOfTrainSamples": counts.get(task, 0)}
        if task in scores:
            entry["averagePrecision"] = scores[task]
        ai_models.append(entry)
    return {
        "AIModels": {"numberOfAIModels": len(ai_models), "listOfAIModels": ai_models},
        "AIClasses": {"numberOfAIClasses": 0, "listOfAIClasses": []},
        "samples": {"numberOfLabeledUnseenSample": 0, "numberOfUnseenSample": 0},
    }


def unseen_samples_from(reports: list[WorkerReport]) -> int:
    """Samples the inference workers found unseen: each worker's latest count (cumulative since
    it started), summed over the workers."""
    total = 0
    for report in reports:
        value = report.owner_info.get("numberOfUnseenSample") if report.kind.lower() == "inference" else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return total


def knowledge_base_from(reports: list[WorkerReport]) -> dict[str, Any] | None:
    """``status.knowledgeBase`` from the newest report whose results describe KB models (§2.5).

    Reports without Sedna's ``current_metric`` (this project's SDK) are read through
    :func:`_knowledge_base_from_task_metrics`.
    """
    for report in sorted(reports, key=lambda r: (r.received_at, r.sequence), reverse=True):
        models = [m for m in report.results if isinstance(m, dict)]
        if not any("current_metric" in m or "classes" in m for m in models):
            continue
        ai_models = []
        labeled = 0
        for m in models:
            samples = int(m.get("number_of_labeled_unseen_sample") or 0)
            labeled += samples
            for model_id, metrics in (m.get("current_metric") or {}).items():
                values = list(metrics.values()) if isinstance(metrics, dict) else []
                first = values[0] if values else None
                if isinstance(first, list):
                    first = first[0] if first else None
                entry: dict[str, Any] = {"modelID": str(model_id), "numberOfTrainSamples": samples}
                if isinstance(first, int | float):
                    entry["averagePrecision"] = float(first)
                ai_models.append(entry)
        classes = [str(c) for c in (models[0].get("classes") or [])] if models else []
        return {
            "AIModels": {"numberOfAIModels": len(ai_models), "listOfAIModels": ai_models},
            "AIClasses": {"numberOfAIClasses": len(classes), "listOfAIClasses": classes},
            "samples": {"numberOfLabeledUnseenSample": labeled, "numberOfUnseenSample": 0},
        }
    return _knowledge_base_from_task_metrics(reports)


def status_extras(cy: Cycle) -> dict[str, Any]:
    job = _job(cy)
    names = {w.name for w in cy.obs.workers}
    prefixes = (f"{job.name}-train-", f"{job.name}-eval-", f"{job.name}-inference-")
    reports = [r for n, r in cy.obs.reports.items() if n in names or n.startswith(prefixes)]
    kb = knowledge_base_from(reports)
    if kb is not None:
        kb["samples"]["numberOfUnseenSample"] = unseen_samples_from(reports)
    current = job.status.knowledge_base.to_wire() if job.status.knowledge_base else None
    if kb is None or kb == current:
        return {}
    return {"knowledgeBase": kb}


FLAVOR = Flavor(
    kind="LifelongLearningJob",
    build_stage=build_stage,
    inference_slot=inference_slot,
    train_input=train_input,
    eval_input=eval_input,
    deploy_decision=deploy_decision,
    deploy_ready=deploy_ready,
    deploy_running=deploy_running,
    status_extras=status_extras,
    train_trigger=lambda job: job.spec.train_spec.trigger,
    state_type=LifelongState,
)


def reconcile(obs: Observation) -> Plan:
    """One step of the lifelong-learning cycle."""
    typed(obs.resource, LifelongLearningJob)
    return with_run_policy(obs, lambda o: run(o, FLAVOR), LEARNING_TERMS)


def cleanup(obs: Observation) -> Plan:
    """Delete every worker of the job (it owns no Service)."""
    return cleanup_plan(obs)
