"""A small evaluator of IAM policies, so tests can ask what the generated policy allows.

It lives with the tests because only they ask: the product writes the policy, AWS judges it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["allows"]


def allows(policy: dict[str, Any], action: str, resource_arn: str) -> bool:
    """Whether ``policy`` allows ``action`` on ``resource_arn``, by a small subset of IAM's rules.

    An Allow statement matches when one of its actions matches (case-insensitive; ``*`` and
    ``?`` wildcards, so ``s3:PutObject``, ``s3:*`` or ``*``) and one of its resources matches
    (case-sensitive, ``*`` and ``?`` wildcards as in IAM, which may span ``/``); ``NotAction``
    and ``NotResource`` are honoured. A matching Deny statement wins over any Allow.
    Conditions, principals and policy variables are not evaluated: a statement with a
    ``Condition`` is treated as if the condition held, so this over-approximates what such a
    statement allows.
    """
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        if not (_matches_action(statement, action) and _matches_resource(statement, resource_arn)):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


def _matches_action(statement: dict[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    return False


def _matches_resource(statement: dict[str, Any], arn: str) -> bool:
    if "Resource" in statement:
        return any(_wildcard(p, arn) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_wildcard(p, arn) for p in _as_list(statement["NotResource"]))
    return False


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM-style glob: ``*`` is any run of characters (``/`` included), ``?`` one; nothing else."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
