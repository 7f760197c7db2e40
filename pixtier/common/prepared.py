"""Queries the ORM writes once and every call only binds: for the download path, where
building and compiling a queryset cost more than running it (profiled: about 60 % of a
decision's CPU without a cache went to ``values_list()`` and the SQL compiler).

The ORM still writes the SQL (per database vendor) and still converts the columns read
(SQLite's text datetimes and UUIDs, for one); only the per-call work is skipped.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import QuerySet

# Stand-ins for the values of a call: unlikely as real values, and told apart by type.
_MARKERS: dict[type, Callable[[int], Any]] = {
    int: lambda n: 2_147_480_000 + n,  # within every integer column's range
    uuid.UUID: lambda n: uuid.UUID(int=0x7E57_0000_0000_0000_0000_0000_0000_0000 + n),
}


class _Slot(NamedTuple):
    name: str
    form: str | None  # how the value reaches the SQL: as is, or a UUID's hex or str


class Prepared:
    """``build(**values)`` returns a ``values_list()`` queryset; calling the Prepared
    with the same keyword arguments runs that query with these values bound."""

    def __init__(self, build: Callable[..., QuerySet[Any]], **types: type) -> None:
        self.build = build
        self.types = types
        self._written: dict[str, tuple[str, list[Any], Any, Any]] = {}

    def _write(self, alias: str) -> tuple[str, list[Any], Any, Any]:
        markers = {name: _MARKERS[kind](i) for i, (name, kind) in enumerate(self.types.items())}
        queryset = self.build(**markers)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots: list[Any] = []
        found = set()
        for param in params:
            slot: Any = param
            for name, marker in markers.items():
                if param == marker:
                    slot = _Slot(name, None)
                elif isinstance(marker, uuid.UUID) and param in (marker.hex, str(marker)):
                    slot = _Slot(name, "hex" if param == marker.hex else "str")
                else:
                    continue
                found.add(name)
                break
            slots.append(slot)
        if found != set(markers):
            raise ValueError(f"values {set(markers) - found} do not reach the SQL")
        columns = [column for column, _, _ in compiler.select]
        converters = compiler.get_converters(columns)
        written = (sql, slots, compiler, converters)
        self._written[alias] = written
        return written

    def __call__(self, *, using: str = "default", **values: Any) -> list[tuple[Any, ...]]:
        sql, slots, compiler, converters = self._written.get(using) or self._write(using)
        params = [_bind(slot, values) for slot in slots]
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows: Iterator[Any] = iter(cursor.fetchall())
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [tuple(row) for row in rows]


def _bind(slot: Any, values: dict[str, Any]) -> Any:
    if not isinstance(slot, _Slot):
        return slot
    value = values[slot.name]
    if slot.form == "hex":
        return value.hex
    if slot.form == "str":
        return str(value)
    return value
