"""JSON round trip for the frozen dataclasses (observations, verdicts, findings)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, TypeVar

import cattrs

T = TypeVar("T")

_converter = cattrs.Converter(forbid_extra_keys=False)
_converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
_converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
_converter.register_unstructure_hook(date, lambda d: d.isoformat())
_converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
# Evidence dicts hold plain JSON values: pass them through untouched.
_converter.register_structure_hook(Any, lambda v, _: v)


def to_jsonable(obj: Any) -> Any:
    return _converter.unstructure(obj)


def from_jsonable(data: Any, cls: type[T]) -> T:
    return _converter.structure(data, cls)


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(text: str, cls: type[T]) -> T:
    return from_jsonable(json.loads(text), cls)
