"""Strict JSON for untrusted input: no NaN or Infinity (browsers cannot parse them back), no
nesting deep enough to exhaust the parser."""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def loads_strict(raw: str | bytes) -> Any:
    """json.loads that raises ValueError for NaN, Infinity and pathological nesting."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
