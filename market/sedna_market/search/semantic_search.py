"""Semantic search: tag matching, then exact substring or fuzzy name matching (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from ..spec.semantic import VOCABULARY, SemanticSpec

FUZZY_MIN_SCORE = 75.0
FUZZY_MAX_NUM = 50000


def _tags_match(user: SemanticSpec, spec: SemanticSpec) -> bool:
    for key, (ftype, _) in VOCABULARY.items():
        if ftype == "String":
            continue
        wanted = getattr(user, key).Values
        if not wanted:
            continue
        have = getattr(spec, key).Values
        if not have:
            return False
        if ftype == "Class" and have[0] not in wanted:
            return False
        if ftype == "Tag" and not set(have) & set(wanted):
            return False
    return True


def _id_filter(user: SemanticSpec) -> tuple[str | None, bool]:
    extra = (user.model_extra or {}).get("learnware_id")
    if isinstance(extra, dict):
        extra = extra.get("Values")
    return (str(extra) if extra else None), bool(extra)


def semantic_search(
    user: SemanticSpec | None,
    items: Sequence[tuple[str, SemanticSpec]],
    mode: str = "fuzzy",
    min_score: float = FUZZY_MIN_SCORE,
    max_num: int = FUZZY_MAX_NUM,
) -> list[tuple[str, float]]:
    """Ids of matching models with a relevance score (100 for exact matches), best first.

    ``mode="exact"``: user Name and Description must each be substrings of the model's name or
    description.  ``mode="fuzzy"``: exact substring match on Name first; if nothing matches,
    ``max(partial_ratio(name, model name), partial_ratio(name, model description)) >= min_score``.
    """
    if mode not in ("exact", "fuzzy"):
        raise ValueError(f"unknown semantic search mode {mode!r}")
    if user is None:
        return [(mid, 100.0) for mid, _ in items]
    wanted_id, has_id = _id_filter(user)
    pool = []
    for mid, spec in items:
        if has_id and not (mid == wanted_id if mode == "exact" else wanted_id in mid):  # type: ignore[operator]
            continue
        if _tags_match(user, spec):
            pool.append((mid, spec))
    name = user.Name.Values.strip().lower()
    desc = user.Description.Values.strip().lower()

    def texts(spec: SemanticSpec) -> tuple[str, str]:
        return spec.Name.Values.lower(), spec.Description.Values.lower()

    if mode == "exact":
        out = []
        for mid, spec in pool:
            n, d = texts(spec)
            if (not name or name in n or name in d) and (not desc or desc in n or desc in d):
                out.append((mid, 100.0))
        return out
    if not name:
        return [(mid, 100.0) for mid, _ in pool][:max_num]
    exact = [(mid, 100.0) for mid, spec in pool if name in texts(spec)[0] or name in texts(spec)[1]]
    if exact:
        return exact[:max_num]
    scored = []
    for mid, spec in pool:
        n, d = texts(spec)
        score = max(fuzz.partial_ratio(name, n), fuzz.partial_ratio(name, d))
        if score >= min_score:
            scored.append((mid, float(score)))
    scored.sort(key=lambda t: -t[1])
    return scored[:max_num]
