"""Shared plumbing for commands and events: frozen slotted records <-> plain dicts by `kind`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, Generic, Protocol, TypeVar


class RecordError(ValueError):
    """A dict that is not a well-formed command or event."""


class _Record(Protocol):
    """A frozen dataclass with a `kind`: every command and event."""

    kind: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]


R = TypeVar("R", bound=_Record)


class Registry(Generic[R]):
    """Maps each record class to its kind and field names, and back."""

    def __init__(self, classes: tuple[type[R], ...]) -> None:
        self.by_kind: dict[str, type[R]] = {}
        self.names: dict[type[R], tuple[str, ...]] = {}
        for cls in classes:
            self.by_kind[cls.kind] = cls
            self.names[cls] = tuple(f.name for f in fields(cls))

    def to_dict(self, record: R) -> dict[str, Any]:
        """{"kind", then the fields in declaration order}: the canonical key order of the log."""
        d: dict[str, Any] = {"kind": record.kind}
        for name in self.names[type(record)]:
            d[name] = getattr(record, name)
        return d

    def from_dict(self, d: Mapping[str, Any], convert: dict[str, Any] | None = None) -> R:
        if not isinstance(d, Mapping):
            raise RecordError("not a map")
        kind = d.get("kind")
        cls = self.by_kind.get(kind) if isinstance(kind, str) else None
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
