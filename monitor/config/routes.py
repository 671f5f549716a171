"""Routes: which channels a release's alerts go to (``routes:`` in monitor.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from monitor.config.options import INT, Options


@dataclass(frozen=True)
class Route:
    """A routing rule from monitor.yaml ``routes:``; first match wins unless ``continue_``.

    ``match`` maps a label name (or ``severity``, ``rule``, ``source``, ``partner``...) to the
    accepted values; an empty match is the default route.
    """

    name: str
    channels: tuple[str, ...]
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    continue_: bool = False
    template: str | None = None
    group_cap: int = 20


def _one_or_many(value: Any) -> Any:
    return value if isinstance(value, list | tuple) else [value]


class RouteModel(Options):
    """One entry of ``routes:`` as written; the loader makes it a ``Route`` (unnamed: route-N)."""

    name: str | None = None
    match: dict[str, Annotated[list[str], BeforeValidator(_one_or_many)]] = Field(
        default_factory=dict, description="label -> accepted value(s); empty: the default route"
    )
    channels: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    template: str | None = None
    group_cap: Annotated[int, Field(ge=1, le=45), INT] = 20
