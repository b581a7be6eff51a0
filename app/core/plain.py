"""Stored values as plain Python, for comparing what the server answers with what the code declared."""

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    """`value` as dicts, lists and scalars: any mapping (SON, RawBSONDocument) a dict, whole floats ints
    (the server may answer `60.0` for a declared `60`). Field order inside options is not compared."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value
