"""Command-line options that carry a JSON object (a config entry), parsed once, one way."""

from __future__ import annotations

import json

from mmfeat.errors import UserError


def json_object(text: str, option: str) -> dict:
    """`text` as a JSON object; UserError naming `option` (e.g. "--extractor") when it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{option} is not valid JSON ({error}): {text!r}") from error
    if not isinstance(value, dict):
        raise UserError(f"{option} must be a JSON object, got {text!r}")
    return value
