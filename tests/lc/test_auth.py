"""Per-job report tokens."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sedna_operator.lc import bearer_token, canonical_owner_kind, report_token, token_matches


def test_token_is_hmac_sha256_of_namespace_kind_name() -> None:
    expected = hmac.new(b"k", b"ns/IncrementalLearningJob/job", hashlib.sha256).hexdigest()
    assert report_token("k", "ns", "IncrementalLearningJob", "job") == expected
    # Sedna's lowercase owner kind gives the same token as the CamelCase Kind.
    assert report_token(b"k", "ns", "incrementallearningjob", "job") == expected


def test_token_is_per_job() -> None:
    base = report_token("k", "ns", "IncrementalLearningJob", "job")
    assert report_token("k", "ns", "IncrementalLearningJob", "job2") != base
    assert report_token("k", "ns2", "IncrementalLearningJob", "job") != base
    assert report_token("k", "ns", "LifelongLearningJob", "job") != base
    assert report_token("other", "ns", "IncrementalLearningJob", "job") != base
    assert token_matches("k", "ns", "incrementallearningjob", "job", base)
    assert not token_matches("k", "ns", "incrementallearningjob", "job2", base)


def test_bearer_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_owner_kinds() -> None:
    assert canonical_owner_kind("federatedlearningjob") == "FederatedLearningJob"
    assert canonical_owner_kind("JointInferenceService") == "JointInferenceService"
    with pytest.raises(ValueError, match="unknown ownerKind 'default'"):
        canonical_owner_kind("default")
