"""The door every change of a session's name, tags and notes goes through (store, panel, API, imports)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .errors import InvalidValue
from .models import SessionMeta

_WHAT = {"name": "the session name", "notes": "the notes", "tags": "the tags", "origin": "the origin"}


def checked_meta(fields: dict[str, Any]) -> SessionMeta:
    """A SessionMeta of ``fields``; InvalidValue names the field and its limit when one breaks it."""
    try:
        return SessionMeta.model_validate(fields)
    except ValidationError as exc:
        raise InvalidValue(describe_meta_error(exc)) from exc


def describe_meta_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = first.get("loc", ())
    field = str(loc[0]) if loc else "session"
    what = _WHAT.get(field, field)
    context = first.get("ctx") or {}
    if first.get("type") in ("string_too_long", "too_long") and "max_length" in context:
        unit = "tags" if field == "tags" and len(loc) == 1 else "characters"  # the list, or one of its tags
        return (f"{what} may have at most {context['max_length']:,} {unit}; shorten it and try again "
                "(nothing was changed)")
    return f"{what} cannot be saved ({first.get('msg', 'invalid value')}); nothing was changed"
