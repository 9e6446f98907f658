"""Check outcomes shared by checkers, organizer and API."""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel


class CheckStatus(IntEnum):
    """Three-level status of a submitted model (same numbers as learnware's constants).

    INVALID models are never searchable; NONUSABLE ones are stored and searchable but were
    not verified runnable; USABLE ones passed every checker.
    """

    INVALID = -1
    NONUSABLE = 0
    USABLE = 1


class CheckResult(BaseModel):
    """Outcome of one checker (or of the merged checker list) with a human readable reason."""

    status: CheckStatus
    reason: str = ""


def merge_results(results: list[CheckResult]) -> CheckResult:
    """Merge checker results the way the market does: INVALID wins, otherwise the maximum."""
    final = CheckResult(status=CheckStatus.NONUSABLE, reason="")
    reasons: list[str] = []
    for res in results:
        if res.status == CheckStatus.INVALID:
            return res
        reasons.append(res.reason)
        if res.status > final.status:
            final = CheckResult(status=res.status, reason="")
    final.reason = "; ".join(r for r in reasons if r)
    return final
