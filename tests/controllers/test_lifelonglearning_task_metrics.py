"""LL ``status.knowledgeBase`` from the SDK's reports, which carry per-task ``metrics`` instead of
Sedna's ``current_metric``: eval results map each task to its score, train results to its samples."""

from __future__ import annotations

from datetime import timedelta

from sedna_operator.controllers import lifelonglearning as ll

from .helpers import NOW, report

INDEX = "/out/eval/1/deploy/index.pkl"


def test_task_models_from_eval_scores_and_train_counts() -> None:
    train = report("j-train-a", "train", "completed",
                   results=[{"format": "pkl", "url": "/out/train/1/index.pkl", "metrics": {"plain": 400, "inverted": 380}}])
    ev = report("j-eval-b", "eval", "completed", at=NOW + timedelta(seconds=5),
                results=[{"format": "pkl", "url": INDEX, "metrics": {"plain": 0.91, "inverted": 0.88}}])
    kb = ll.knowledge_base_from([train, ev])
    assert kb is not None
    assert kb["AIModels"] == {
        "numberOfAIModels": 2,
        "listOfAIModels": [
            {"modelID": "plain", "numberOfTrainSamples": 400, "averagePrecision": 0.91},
            {"modelID": "inverted", "numberOfTrainSamples": 380, "averagePrecision": 0.88},
        ],
    }
    assert kb["samples"] == {"numberOfLabeledUnseenSample": 0, "numberOfUnseenSample": 0}


def test_train_report_alone_lists_tasks_without_precision() -> None:
    train = report("j-train-a", "train", "completed",
                   results=[{"format": "pkl", "url": "/out/train/1/index.pkl", "metrics": {"plain": 12}}])
    kb = ll.knowledge_base_from([train])
    assert kb is not None
    assert kb["AIModels"]["listOfAIModels"] == [{"modelID": "plain", "numberOfTrainSamples": 12}]


def test_reports_without_task_metrics_give_nothing() -> None:
    assert ll.knowledge_base_from([report("j-train-a", "train", "completed",
                                          results=[{"url": "/m", "metrics": {"accuracy": [0.1, 0.2]}}])]) is None
    assert ll.knowledge_base_from([report("j-train-a", "train", "failed")]) is None
    assert ll.knowledge_base_from([]) is None


def test_tasks_of_earlier_rounds_stay_listed_with_their_newest_numbers() -> None:
    """A round that trains only on collected unseen samples ('noisy') keeps the other tasks in the
    index; the status lists all three, each with its newest score and count."""
    at = [NOW + timedelta(seconds=s) for s in (0, 5, 60, 65)]
    reports = [
        report("j-train-r1", "train", "completed", at=at[0], results=[{"url": "/i1", "metrics": {"plain": 400, "inverted": 380}}]),
        report("j-eval-r1", "eval", "completed", at=at[1], results=[{"url": INDEX, "metrics": {"plain": 0.91, "inverted": 0.88}}]),
        report("j-train-r2", "train", "completed", at=at[2], results=[{"url": "/i2", "metrics": {"noisy": 32, "plain": 410}}]),
        report("j-eval-r2", "eval", "completed", at=at[3], results=[{"url": INDEX, "metrics": {"noisy": 0.75, "plain": 0.93}}]),
    ]
    kb = ll.knowledge_base_from(list(reversed(reports)))  # the order of the dict of reports does not matter
    assert kb is not None
    assert kb["AIModels"]["listOfAIModels"] == [
        {"modelID": "plain", "numberOfTrainSamples": 410, "averagePrecision": 0.93},
        {"modelID": "inverted", "numberOfTrainSamples": 380, "averagePrecision": 0.88},
        {"modelID": "noisy", "numberOfTrainSamples": 32, "averagePrecision": 0.75},
    ]
