"""Errors for bad user input, printed by the CLI as one line with exit code 2."""

from __future__ import annotations

import reprlib

from pydantic import ValidationError


class ConfigError(ValueError):
    """Invalid input in a file the user supplied: names the file, the key path and what is allowed."""

    def __init__(self, source: str, key_path: str, message: str) -> None:
        self.source = source
        self.key_path = key_path
        self.message = message
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: {message}")


# reprlib shortens while it builds the text, so even a value of millions of items (a YAML alias bomb) gives a short
# message quickly.
_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments: set the limits as attributes.
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlong = 40


def _short_repr(value: object) -> str:
    """Return a repr of at most a few hundred characters, with '...' where items were left out."""
    return _REPR.repr(value)


def format_key_path(location: tuple[str | int, ...]) -> str:
    """Join a pydantic error location into a dotted key path, with list indices in brackets."""
    parts: list[str] = []
    for item in location:
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _allowed_keys(model: type | None, location: tuple) -> list[str]:
    """Return the keys a pydantic model accepts at ``location`` (the parent's path), or [] when they are unknown."""
    from typing import get_args, get_origin

    from pydantic import BaseModel

    current = model
    for part in location:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        annotation = current.model_fields[part].annotation
        # Unwrap Optional[...], list[...] and dict[..., X] down to a model class.
        while get_origin(annotation) is not None:
            candidates = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = candidates[0] if candidates else get_args(annotation)[-1]
        current = annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def config_error_from_validation(
    source: str, exc: ValidationError, prefix: str = "", model: type | None = None
) -> ConfigError:
    """Turn the first pydantic validation error into a :class:`ConfigError`; ``model`` lets it list allowed keys."""
    error = exc.errors()[0]
    # Drop pydantic's internal tags such as 'function-after[...]' from the location.
    location = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
    key_path = format_key_path(location)
    if prefix:
        key_path = f"{prefix}.{key_path}" if key_path else prefix
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, location[:-1])
        message = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif "input" in error and error["type"] != "missing" and ", got " not in message:
        message = f"{message}, got {_short_repr(error['input'])}"
    count = exc.error_count()
    if count > 1:
        message += f" (and {count - 1} more error{'s' if count > 2 else ''})"
    return ConfigError(source, key_path, message)
