"""Errors for bad user input, printed by the CLI as one line with exit code 2."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """Invalid input in a file the user supplied: names the file, the key path and what is allowed."""

    def __init__(self, source: str, key_path: str, message: str) -> None:
        self.source = source
        self.key_path = key_path
        self.message = message
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: {message}")


def format_key_path(location: tuple[str | int, ...]) -> str:
    """Join a pydantic error location into a dotted key path, with list indices in brackets."""
    parts: list[str] = []
    for item in location:
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def config_error_from_validation(source: str, exc: ValidationError, prefix: str = "") -> ConfigError:
    """Turn the first pydantic validation error into a :class:`ConfigError`."""
    error = exc.errors()[0]
    # Drop pydantic's internal tags such as 'function-after[...]' from the location.
    location = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
    key_path = format_key_path(location)
    if prefix:
        key_path = f"{prefix}.{key_path}" if key_path else prefix
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key; check the spelling against the documented keys"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif "input" in error and error["type"] != "missing" and ", got " not in message:
        message = f"{message}, got {error['input']!r}"
    count = exc.error_count()
    if count > 1:
        message += f" (and {count - 1} more error{'s' if count > 2 else ''})"
    return ConfigError(source, key_path, message)
