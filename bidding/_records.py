"""Shared plumbing for commands and events: frozen slotted records <-> plain dicts by `kind`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


class RecordError(ValueError):
    """A dict that is not a well-formed command or event."""


class Registry:
    """Maps each record class to its kind and field names, and back."""

    def __init__(self, classes: tuple[type, ...]) -> None:
        self.by_kind: dict[str, type] = {}
        self.names: dict[type, tuple[str, ...]] = {}
        for cls in classes:
            self.by_kind[cls.kind] = cls
            self.names[cls] = tuple(f.name for f in fields(cls))

    def to_dict(self, record: Any) -> dict[str, Any]:
        """{"kind", then the fields in declaration order}: the canonical key order of the log."""
        d: dict[str, Any] = {"kind": record.kind}
        for name in self.names[type(record)]:
            d[name] = getattr(record, name)
        return d

    def from_dict(self, d: Mapping[str, Any], convert: dict[str, Any] | None = None) -> Any:
        if not isinstance(d, Mapping):
            raise RecordError("not a map")
        cls = self.by_kind.get(d.get("kind"))  # type: ignore[arg-type]
        if cls is None:
            raise RecordError(f"unknown kind {d.get('kind')!r}")
        names = self.names[cls]
        if len(d) != len(names) + 1 or any(n not in d for n in names):
            raise RecordError(f"{cls.kind}: expected fields {', '.join(names)}")
        kwargs = {n: d[n] for n in names}
        for name, fn in (convert or {}).items():
            if name in kwargs:
                kwargs[name] = fn(kwargs[name])
        return cls(**kwargs)
