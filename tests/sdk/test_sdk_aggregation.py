"""Aggregation strategies against hand-computed values and explicit numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from sedna.algorithms.aggregation import (
    AggClient,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    MultiKrum,
)
from sedna.algorithms.aggregation.kernels import BLOCK, pairwise_sq_distances
from sedna.algorithms.aggregation.robust import krum_scores
from sedna.common.class_factory import ClassFactory, ClassType


def clients_of(values: list[float], samples: list[int] | None = None) -> list[AggClient]:
    """One client per value: layer 0 is ``[value]``, layer 1 a (2, 2) block of it."""
    samples = samples or [1] * len(values)
    return [
        AggClient(num_samples=n, weights=[np.array([v]), np.full((2, 2), v)])
        for v, n in zip(values, samples, strict=True)
    ]


def test_registry() -> None:
    for name in ("FedAvg", "FedAvgM", "FedProx", "FedAdam", "FedYogi", "FedAdagrad", "FedMedian",
                 "FedTrimmedAvg", "Krum", "MultiKrum"):
        agg = ClassFactory.get_cls(ClassType.FL_AGG, name)()
        assert agg.total_size == 0 and agg.weights is None


def test_fedavg_matches_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    shapes = [(3, 5), (BLOCK * 2 + 17,), (2, 3, 4), ()]
    samples = [10, 30, 60]
    clients = [
        AggClient(num_samples=n, weights=[rng.standard_normal(s) for s in shapes]) for n in samples
    ]
    agg = FedAvg()
    out = agg.aggregate(clients)
    assert agg.total_size == 100
    for i, shape in enumerate(shapes):
        ref = sum(c.weights[i] * c.num_samples for c in clients) / 100
        assert out[i].shape == shape and out[i].dtype == np.float64
        np.testing.assert_allclose(out[i], ref, rtol=1e-12, atol=1e-14)


def test_fedavg_hand_values_dtypes_and_json_lists() -> None:
    # weights 1 and 2 with 1 and 3 samples: (1·1 + 2·3) / 4 = 1.75
    clients = [
        AggClient(num_samples=1, weights=[np.array([1.0], np.float32), np.array(2, np.int64)]),
        AggClient(num_samples=3, weights=[np.array([2.0], np.float32), 5]),
    ]
    out = FedAvg().aggregate(clients)
    assert out[0].dtype == np.float32 and out[0].tolist() == [1.75]
    # integer layer: (2·1 + 5·3) / 4 = 4.25 -> rounded to 4, dtype kept
    assert out[1].dtype == np.int64 and out[1].shape == () and int(out[1]) == 4
    # JSON-decoded lists from the websocket: float64 result
    out = FedAvg().aggregate([AggClient(1, [[1.0, 2.0]]), AggClient(3, [[3.0, 4.0]])])
    assert out[0].dtype == np.float64 and out[0].tolist() == [2.5, 3.5]


def test_fedavg_float32_large_is_accurate() -> None:
    rng = np.random.default_rng(3)
    layers = [rng.standard_normal(BLOCK * 3 + 5, dtype=np.float32) for _ in range(4)]
    clients = [AggClient(num_samples=i + 1, weights=[w]) for i, w in enumerate(layers)]
    out = FedAvg().aggregate(clients)[0]
    ref = sum(w.astype(np.float64) * (i + 1) for i, w in enumerate(layers)) / 10
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FedAvg().aggregate([])
    bad_shape = [AggClient(1, [np.zeros(3)]), AggClient(1, [np.zeros(4)])]
    with pytest.raises(ValueError, match="layer 0: client 1"):
        FedAvg().aggregate(bad_shape)
    bad_len = [AggClient(1, [np.zeros(3)]), AggClient(1, [np.zeros(3), np.zeros(1)])]
    with pytest.raises(ValueError, match="client 1 sent 2 layers"):
        FedAvg().aggregate(bad_len)
    with pytest.raises(ValueError, match="num_samples"):
        FedAvg().aggregate([AggClient(-1, [np.zeros(1)])])


def test_zero_samples_everywhere_is_a_plain_mean() -> None:
    out = FedAvg().aggregate(clients_of([1.0, 3.0], [0, 0]))
    assert out[0].tolist() == [2.0]


def test_fedprox_server_is_fedavg() -> None:
    agg = FedProx(mu="0.1")
    assert agg.mu == 0.1
    assert agg.aggregate(clients_of([1.0, 2.0], [1, 3]))[0].tolist() == [1.75]


def test_fedavgm_hand_values() -> None:
    agg = FedAvgM(server_learning_rate="1.0", server_momentum="0.9")
    assert agg.aggregate(clients_of([1.0]))[0].tolist() == [1.0]  # first round: the average
    # round 2: Δ = 1 - 0 = 1, v = 0.9·0 + 1 = 1, w = 1 - 1·1 = 0
    assert agg.aggregate(clients_of([0.0]))[0].tolist() == [0.0]
    # round 3: Δ = 0 - 0 = 0, v = 0.9·1 + 0 = 0.9, w = 0 - 0.9 = -0.9
    out = agg.aggregate(clients_of([0.0]))
    assert out[0].tolist() == pytest.approx([-0.9]) and out[1] == pytest.approx(np.full((2, 2), -0.9))


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # Δ = 3 - 1 = 2, m = 0.1·2 = 0.2
        (FedAdam, 1.1),  # v = 0.01·4 = 0.04, x = 1 + 0.1·0.2/0.2
        (FedYogi, 1.1),  # v = τ² + 0.01·4·sign(4 - τ²) = 0.04
        (FedAdagrad, 1.01),  # v = τ² + 4, x = 1 + 0.1·0.2/2
    ],
)
def test_fedopt_hand_values(cls: type, expected: float) -> None:
    agg = cls(eta="0.1", beta1="0.9", beta2="0.99", tau="1e-9")
    assert agg.aggregate(clients_of([1.0]))[0].tolist() == [1.0]
    out = agg.aggregate(clients_of([3.0]))
    assert out[0][0] == pytest.approx(expected, rel=1e-6)
    assert out[1] == pytest.approx(np.full((2, 2), expected), rel=1e-6)


def test_median_and_trimmed_mean_by_hand() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert FedMedian().aggregate(clients_of(values))[0].tolist() == [3.0]
    assert FedMedian().aggregate(clients_of([1.0, 2.0, 3.0, 10.0]))[0].tolist() == [2.5]
    # beta 0.2 of 5 clients: drop 1 low and 1 high -> mean(2, 3, 4) = 3
    clients = [
        AggClient(1, [np.array([v, w], np.float32)])
        for v, w in zip(values, [5.0, -10.0, 0.0, 1.0, 2.0], strict=True)
    ]
    out = FedTrimmedAvg(beta="0.2").aggregate(clients)[0]
    # second coordinate: sorted (-10, 0, 1, 2, 5) -> mean(0, 1, 2) = 1
    assert out.dtype == np.float32 and out.tolist() == [3.0, 1.0]
    assert FedTrimmedAvg(beta=0.0).aggregate(clients_of(values))[0].tolist() == [22.0]
    with pytest.raises(ValueError):
        FedTrimmedAvg(beta=0.5)


def test_krum_by_hand() -> None:
    # n = 5, f = 1 -> each client sums its 5 - 1 - 2 = 2 nearest squared distances
    # values 0, 1, 2.5, 4, 20 (layer 1 adds 4 copies of each, so distances are 5x):
    # scores/5: c0 1+6.25=7.25, c1 1+2.25=3.25, c2 2.25+2.25=4.5, c3 2.25+9=11.25, c4 256+306.25
    clients = clients_of([0.0, 1.0, 2.5, 4.0, 20.0], [1, 2, 3, 4, 5])
    agg = Krum(num_malicious="1")
    out = agg.aggregate(clients)
    assert agg.selected == [1] and out[0].tolist() == [1.0]
    np.testing.assert_allclose(agg.scores, np.array([7.25, 3.25, 4.5, 11.25, 562.25]) * 5)
    assert agg.total_size == 15
    multi = MultiKrum(num_malicious=1, num_to_keep=3)
    out = multi.aggregate(clients)
    # keeps c1, c2, c0; FedAvg (2·1 + 3·2.5 + 1·0) / 6 = 9.5 / 6
    assert multi.selected == [1, 2, 0]
    assert out[0][0] == pytest.approx(9.5 / 6)


def test_krum_picks_honest_client() -> None:
    rng = np.random.default_rng(5)
    honest = [
        AggClient(100, [1.0 + 0.01 * rng.standard_normal((50, 40)), 0.01 * rng.standard_normal(7)])
        for _ in range(8)
    ]
    malicious = [AggClient(10_000, [np.full((50, 40), -50.0), np.full(7, 50.0)]) for _ in range(2)]
    clients = honest[:4] + malicious + honest[4:]
    agg = Krum(num_malicious=2)
    out = agg.aggregate(clients)
    assert agg.selected[0] not in (4, 5)
    assert abs(out[0].mean() - 1.0) < 0.01
    multi = MultiKrum(num_malicious=2)  # keeps n - f = 8: exactly the honest ones
    out = multi.aggregate(clients)
    assert sorted(multi.selected) == [0, 1, 2, 3, 6, 7, 8, 9]
    assert abs(out[0].mean() - 1.0) < 0.01


def test_pairwise_distances_match_direct() -> None:
    rng = np.random.default_rng(2)
    vecs = [[rng.standard_normal(BLOCK + 3) + 1000.0, rng.standard_normal((3, 3))] for _ in range(4)]
    dist = pairwise_sq_distances(vecs)
    flat = [np.concatenate([a.ravel() for a in v]) for v in vecs]
    direct = np.array([[np.sum((a - b) ** 2) for b in flat] for a in flat])
    np.testing.assert_allclose(dist, direct, rtol=1e-9, atol=1e-6)
    assert krum_scores(np.zeros((1, 1)), 0).tolist() == [0.0]


# ---------------------------------------------------------------------------------------------
# Strategy parameters: names, {"method", "param"} dicts, instances and AGG_NAME/AGG_PARAMETERS
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def no_agg_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("AGG_NAME", "AGG_PARAMETERS", "PARAMETERS"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "param",
    [{"num_malicious": 1, "num_to_keep": 2}, '{"num_malicious": 1, "num_to_keep": 2}',
     [{"key": "num_malicious", "value": "1"}, {"key": "num_to_keep", "value": "2"}]],
)
def test_method_param_dict_in_every_spelling(no_agg_env: pytest.MonkeyPatch, param: object) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    name, agg = build_aggregation({"method": "MultiKrum", "param": param})
    assert name == "MultiKrum" and isinstance(agg, MultiKrum)
    assert (agg.num_malicious, agg.num_to_keep) == (1, 2)
    assert isinstance(agg.num_malicious, int)


def test_env_parameters_are_cast_to_the_constructor_types(no_agg_env: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    cases = {
        "FedTrimmedAvg": ('[{"key": "beta", "value": "0.3"}]', {"beta": 0.3}),
        "FedAdam": ('[{"key": "eta", "value": "0.05"}, {"key": "tau", "value": "1e-3"}]',
                    {"eta": 0.05, "tau": 1e-3}),
        "FedAvgM": ('[{"key": "server_momentum", "value": "0.5"}]', {"server_momentum": 0.5}),
        "FedProx": ('[{"key": "mu", "value": "0.1"}]', {"mu": 0.1}),
        "Krum": ('[{"key": "num_malicious", "value": "2"}]', {"num_malicious": 2}),
    }
    for name, (raw, expected) in cases.items():
        no_agg_env.setenv("AGG_NAME", name)
        no_agg_env.setenv("AGG_PARAMETERS", raw)
        built, agg = build_aggregation(name)
        assert built == name
        for attr, value in expected.items():
            assert getattr(agg, attr) == value and type(getattr(agg, attr)) is type(value), (name, attr)


def test_env_chooses_the_strategy_when_the_script_names_none(no_agg_env: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    assert build_aggregation(None)[0] == "FedAvg"
    no_agg_env.setenv("AGG_NAME", "Krum")
    no_agg_env.setenv("AGG_PARAMETERS", '[{"key": "num_malicious", "value": "1"}]')
    name, agg = build_aggregation(None)
    assert name == "Krum" and agg.num_malicious == 1


def test_env_parameters_apply_only_to_the_strategy_they_name(no_agg_env: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    no_agg_env.setenv("AGG_NAME", "MultiKrum")
    no_agg_env.setenv("AGG_PARAMETERS", '[{"key": "num_malicious", "value": "1"}]')
    name, agg = build_aggregation("Krum")
    assert name == "Krum" and agg.num_malicious == 0
    # the script's own value wins over the environment's, as keyword arguments do for HEM
    _, agg = build_aggregation({"method": "MultiKrum", "param": {"num_malicious": 2}})
    assert agg.num_malicious == 2


def test_instances_and_classes_are_accepted(no_agg_env: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    ready = FedTrimmedAvg(beta=0.4)
    assert build_aggregation(ready) == ("FedTrimmedAvg", ready)
    name, agg = build_aggregation({"method": Krum, "param": {"num_malicious": "1"}})
    assert name == "Krum" and agg.num_malicious == 1
    with pytest.raises(ValueError, match="not a registered"):
        build_aggregation("NoSuchStrategy")
    with pytest.raises(TypeError, match="aggregation must be"):
        build_aggregation(42)


def test_bad_parameter_values_name_the_parameter(no_agg_env: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.aggregation import build_aggregation

    with pytest.raises(ValueError, match="num_malicious"):
        build_aggregation({"method": "Krum", "param": {"num_malicious": "one"}})
    with pytest.raises(ValueError, match="aggregation param"):
        build_aggregation({"method": "Krum", "param": "{not json"})


# ---------------------------------------------------------------------------------------------
# Sedna 0.4+'s V2 objects
# ---------------------------------------------------------------------------------------------
def test_v2_objects_parameters() -> None:
    from sedna.algorithms.aggregation import FedAvgV2, MistNet, PlatoRequiredError
    from sedna.algorithms.client_choose import SimpleClientChoose
    from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter

    assert ClassFactory.get_cls(ClassType.FL_AGG, "FedAvgV2") is FedAvgV2
    assert ClassFactory.get_cls(ClassType.FL_AGG, "MistNet") is MistNet
    assert FedAvgV2().parameters == {"type": "fedavg"}
    # digit strings from the environment become ints, each from its own value (Sedna read
    # epsilon from cut_layer)
    assert MistNet(cut_layer="4", epsilon="100").parameters == {"type": "mistnet", "cut_layer": 4, "epsilon": 100}
    assert MistNet(4).parameters["epsilon"] == 100
    assert SimpleClientChoose().parameters == {"per_round": 1}
    assert SimpleClientChoose(per_round="2").parameters == {"per_round": 2}
    assert WSTransmitter().parameters == {}
    s3 = S3Transmitter("http://minio:9000", "ak", "sk", "s3://bucket/agg")
    assert s3.parameters == {"s3_endpoint_url": "http://minio:9000", "s3_bucket": "s3://bucket/agg",
                             "access_key": "ak", "secret_key": "sk"}
    # FedAvgV2 aggregates like FedAvg (the Plato-free path); MistNet only exists in Plato
    np.testing.assert_allclose(FedAvgV2().aggregate(clients_of([1.0, 2.0], [1, 3]))[0], [1.75])
    with pytest.raises(PlatoRequiredError, match="plato"):
        MistNet(4).aggregate(clients_of([1.0]))


def test_transmitter_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter
    from sedna.core.federated_learning import FederatedLearning, FederatedLearningV2

    monkeypatch.delenv("TRANSMITTER", raising=False)
    assert isinstance(FederatedLearningV2.get_transmitter_from_config(), WSTransmitter)
    for key, value in {"TRANSMITTER": "s3", "S3_ENDPOINT_URL": "http://minio:9000", "ACCESS_KEY_ID": "ak",
                       "SECRET_ACCESS_KEY": "sk", "AGG_DATA_PATH": "s3://bucket/agg"}.items():
        monkeypatch.setenv(key, value)
    s3 = FederatedLearning.get_transmitter_from_config()
    assert isinstance(s3, S3Transmitter) and s3.parameters["s3_bucket"] == "s3://bucket/agg"
    monkeypatch.setenv("TRANSMITTER", "carrier-pigeon")
    with pytest.raises(ValueError, match="TRANSMITTER"):
        FederatedLearningV2.get_transmitter_from_config()
