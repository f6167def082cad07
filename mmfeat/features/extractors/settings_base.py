"""The one base of every extractor's `Settings`: a config entry in, the stored settings out.

    @dataclass(frozen=True)
    class Settings(ExtractorSettings, kind="i3d"):
        window: int  # frames per clip, centred on its frame
        crop: int

        def __post_init__(self) -> None:  # only the checks a schema cannot express
            ...

    settings = Settings.from_dict(complete_entry)   # defaults filled by the schema, `kind` included
    settings.to_dict()                              # {"kind": "i3d", ...}: what each shard stores

An extractor module declares its fields (the schema's `$defs/<kind>_extractor`
holds their types and defaults) and the relations between them; everything
else lives here: the kind, strict keys with errors naming the fix, and JSON
values made immutable so that settings compare and hash (lists become tuples,
mappings a FrozenMapping) and back again for storage.

`dtype` (how the store keeps the rows) is read by the workflow from the entry,
not by the extractor: it is left out of the settings unless a kind declares it
as a field. S3D does, since its first shards stored it, and a stored settings
object must stay byte-identical for existing shards to stay valid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from mmfeat.errors import UserError

STORE_KEYS = ("dtype",)  # entry keys the workflow reads for the store; settings only where a kind declares them


@dataclass(frozen=True)
class ExtractorSettings:
    """Base of each extractor module's frozen `Settings` dataclass; `kind` is given where it is subclassed."""

    KIND: ClassVar[str]

    def __init_subclass__(cls, kind: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.KIND = kind

    @classmethod
    def from_dict(cls, values: Mapping) -> ExtractorSettings:
        """Settings from a complete config entry (every default filled by the schema), `kind` included."""
        values = dict(values)
        kind = values.pop("kind", cls.KIND)
        if kind != cls.KIND:
            raise UserError(f"{cls.KIND} settings have kind {kind!r}; expected {cls.KIND!r}")
        known = {field.name for field in fields(cls)}
        for key in STORE_KEYS:
            if key not in known:
                values.pop(key, None)
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown {cls.KIND} settings {unknown}; the known ones are {sorted(known)}")
        missing = sorted(known - set(values))
        if missing:
            raise UserError(f"{cls.KIND} settings {missing} are missing; the config schema fills their defaults "
                            "(build settings with mmfeat.features.extractors.parse_settings)")
        return cls(**{key: frozen(value) for key, value in values.items()})

    def to_dict(self) -> dict:
        """The settings as a JSON-ready object with their kind: what every shard stores."""
        return {"kind": self.KIND, **{field.name: thawed(getattr(self, field.name)) for field in fields(self)}}


class FrozenMapping(Mapping):
    """A read-only, hashable mapping: a nested settings object (wav2vec2's random_config)."""

    def __init__(self, values: Mapping) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"FrozenMapping({self._values!r})"


def frozen(value: Any) -> Any:
    """A JSON value made immutable: lists as tuples, mappings as FrozenMapping, at every depth."""
    if isinstance(value, Mapping):
        return FrozenMapping({key: frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


def thawed(value: Any) -> Any:
    """The inverse of `frozen`: tuples as lists, mappings as dicts, ready for JSON."""
    if isinstance(value, Mapping):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thawed(item) for item in value]
    return value
