"""Errors for bad user input, printed by the CLI as one line with exit code 2."""

from __future__ import annotations

import difflib
import json
import math
import re
import reprlib
from typing import Any

from pydantic import ValidationError

#: Pattern of a name that becomes part of file names, cell keys and report rows.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Pattern of a dotted key path into a scenario, such as ``call_center.agents``.
KEY_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
#: Pattern of a linear schedule in the RL Zoo's notation, such as ``lin_3.0e-4``.
SCHEDULE_PATTERN = r"^lin_[0-9.eE+-]+$"

# The meaning of each pattern in words, used in messages in place of the regular expression.
_PATTERN_MEANINGS = {
    NAME_PATTERN: "must start with an ASCII letter or digit and contain only ASCII letters, digits, '_', '.' and '-'",
    KEY_PATH_PATTERN: "must be a dotted key path of letters, digits and '_', such as call_center.agents",
    # Schedules are a union of a number and this text, so the meaning names both.
    SCHEDULE_PATTERN: "must be a number above 0, or 'lin_' and a number for a linear decay, such as lin_3.0e-4",
}

# Segments that pydantic adds to an error location for union members and validators, such as 'int',
# 'constrained-float', 'list[int]' or 'function-after[...]'. They name a type, not a key of the config.
_TYPE_TAG = re.compile(r"(int|float|str|bool|none|(constrained|function)-[a-z-]+|.*\[.*)")

# Text that YAML 1.1 (PyYAML) reads as a string although it looks like a number: PyYAML's floats need a dot in the
# mantissa and a sign in the exponent, so 1e9, 1.0e9 and 2.5e3 are strings.
_EXPONENT_AS_TEXT = re.compile(r"[+-]?([0-9][0-9_]*\.?[0-9_]*|\.[0-9]+)[eE][+-]?[0-9]+")


#: Maximum characters of a user's value that an error message echoes (see :func:`short_repr`).
MAX_VALUE_CHARS = 80
#: Maximum characters of a key path and of a message in a :class:`ConfigError`. Values are shortened where the
#: message is built, so this cut only bounds the line of a message that lists many of them.
MAX_KEY_PATH_CHARS = 200
MAX_MESSAGE_CHARS = 1000


class ConfigError(ValueError):
    """Invalid input in a file the user supplied: names the file, the key path and what is allowed.

    Build the message with :func:`short_repr` for every value the user wrote, so that it never expands a huge value.
    """

    def __init__(self, source: str, key_path: str, message: str) -> None:
        self.source = source
        self.key_path = _cut(key_path, MAX_KEY_PATH_CHARS)
        self.message = _cut(message, MAX_MESSAGE_CHARS)
        where = f"{source}: {self.key_path}" if key_path else source
        super().__init__(f"{where}: {self.message}")

    def __reduce__(self):
        # A cell that fails in a worker process sends its error back pickled, and the default reduction would call
        # __init__ with the formatted message alone.
        return (type(self), (self.source, self.key_path, self.message))


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text as :func:`json.loads` does, raising :class:`ValueError` also for nesting too deep to parse.

    The decoder recurses once per nested array or object, so a hand-edited file of 100,000 nested brackets raised
    RecursionError, which handlers of invalid JSON (a ValueError) did not catch.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("invalid JSON: arrays or objects nested too deeply") from None


def _cut(text: str, max_chars: int) -> str:
    """Return ``text``, or its first ``max_chars`` characters ending in '...' when it is longer."""
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


class _ShortRepr(reprlib.Repr):
    """A :class:`reprlib.Repr` that also describes integers too long for ``repr``.

    Since Python 3.11, ``repr`` of an integer of more than 4300 digits raises ValueError (sys.get_int_max_str_digits).
    """

    def repr_int(self, x: int, level: int) -> str:
        # 10,000 bits are about 3,000 digits.
        if x.bit_length() > 10_000:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


# reprlib shortens while it builds the text, so even a value of millions of items (a YAML alias bomb) gives a short
# message quickly.
_REPR = _ShortRepr()  # Python 3.11's Repr takes no keyword arguments: set the limits as attributes.
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxstring = _REPR.maxother = MAX_VALUE_CHARS
_REPR.maxlong = 40


def short_repr(value: object) -> str:
    """Return the repr of a user's value for an error message, cut to at most :data:`MAX_VALUE_CHARS` with '...'.

    The repr is built from at most a few items of each list or mapping and three levels of nesting, so the time and
    memory it takes do not grow with the value.
    """
    return _cut(_REPR.repr(value), MAX_VALUE_CHARS)


def short_text(text: str) -> str:
    """Return a user's text for an error message without quotes, cut to at most :data:`MAX_VALUE_CHARS` with '...'."""
    return _cut(text, MAX_VALUE_CHARS)


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


def _is_type_tag(part: str | int) -> bool:
    return isinstance(part, str) and _TYPE_TAG.fullmatch(part) is not None


def _union_alternatives(errors: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """Pick the error to report from the first error and its union siblings, and count the errors it represents.

    A value that fails every member of a union (``int | list[int]``, say) gives one error per member at the same
    key. When one member got past the type check and failed inside the value (an item of the list), that error
    is the useful one. Otherwise the members' messages are joined: "should be a valid integer or a valid list".
    """
    first = errors[0]
    tags = [i for i, part in enumerate(first["loc"]) if _is_type_tag(part)]
    if not tags:
        return first, 1
    union_at = tags[0]
    key = first["loc"][:union_at]
    siblings = [
        error
        for error in errors
        if error["loc"][:union_at] == key and len(error["loc"]) > union_at and _is_type_tag(error["loc"][union_at])
    ]
    inside = [error for error in siblings if any(not _is_type_tag(part) for part in error["loc"][union_at:])]
    if inside:
        return inside[0], len(siblings)
    described = [error for error in siblings if (error.get("ctx") or {}).get("pattern") in _PATTERN_MEANINGS]
    if described:
        return described[0], len(siblings)
    alternatives = list(dict.fromkeys(error["msg"].removeprefix("Input should be ") for error in siblings))
    if len(alternatives) == 1:
        return first, len(siblings)
    joined = {**first, "type": "union", "msg": "should be " + " or ".join(alternatives)}
    return joined, len(siblings)


def _yaml_float(number: float) -> str:
    """Return ``number`` in exponent notation that PyYAML reads as a float, such as 2.5e+03."""
    mantissa, exponent = f"{number:e}".split("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}0e{exponent}" if mantissa.endswith(".") else f"{mantissa}e{exponent}"


def _readable_message(error: dict[str, Any]) -> str:
    """Return pydantic's message for ``error`` in the project's words, with the value where it helps."""
    message = error["msg"]
    pattern = (error.get("ctx") or {}).get("pattern")
    if error["type"] == "string_pattern_mismatch" and pattern in _PATTERN_MEANINGS:
        message = _PATTERN_MEANINGS[pattern]
    if message.startswith("Value error, "):
        return message.removeprefix("Value error, ")
    if "input" in error and error["type"] != "missing" and ", got " not in message:
        message = f"{message}, got {short_repr(error['input'])}"
    value = error.get("input")
    # A schedule's number written as 1e-4 fails the pattern of its text form, so it gets the same hint.
    number_expected = error["type"] in ("int_type", "float_type", "union") or pattern == SCHEDULE_PATTERN
    if number_expected and isinstance(value, str):
        if _EXPONENT_AS_TEXT.fullmatch(value.strip()):
            number = float(value.replace("_", ""))
            if not math.isfinite(number):
                # 1e400 and the like overflow a float, so no spelling of them is a valid number.
                message += f"; YAML reads {value.strip()} as text, and as a number it exceeds the float range"
                return message
            suggestion = f"{int(number):_}" if number.is_integer() and abs(number) < 2**63 else _yaml_float(number)
            message += f"; YAML reads {value.strip()} as text, so write {suggestion}"
    return message


def config_error_from_validation(
    source: str, exc: ValidationError, prefix: str = "", model: type | None = None, other_errors: int = 0
) -> ConfigError:
    """Turn the first pydantic validation error into a :class:`ConfigError`; ``model`` lets it list allowed keys.

    With ``model``, an unknown key that is a near miss of an allowed key comes first, with a suggestion
    (:func:`_near_miss_error`), because the missing-key error it causes would not name the misspelling.
    ``other_errors`` counts errors found outside ``exc``, in another part of the same file, among the others.
    """
    if model is not None:
        near_miss = _near_miss_error(source, exc, model, prefix, other_errors)
        if near_miss is not None:
            return near_miss
    errors = exc.errors()
    error, reported = _union_alternatives(errors)
    location = tuple(part for part in error["loc"] if not _is_type_tag(part))
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, location[:-1])
        message = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
    else:
        message = _readable_message(error)
    key_path = _prefixed(prefix, format_key_path(location))
    return ConfigError(source, key_path, _and_others(message, len(errors) - reported + other_errors))


def _prefixed(prefix: str, key_path: str) -> str:
    """Return ``key_path`` under ``prefix`` (either may be empty)."""
    return f"{prefix}.{key_path}" if prefix and key_path else prefix or key_path


def _and_others(message: str, others: int) -> str:
    """Return ``message`` with the count of the other errors that it does not report, if any."""
    return message + (f" (and {others} more error{'s' if others > 1 else ''})" if others > 0 else "")


def _near_miss_error(
    source: str, exc: ValidationError, model: type, prefix: str = "", other_errors: int = 0
) -> ConfigError | None:
    """Return an error for the first unknown key that is a near miss of an allowed key, or None when none is.

    The message lists the allowed keys and suggests the closest. A missing-key error for that suggestion is not
    counted among the others, because the misspelt key caused it.
    """
    errors = exc.errors()
    for error in errors:
        if error["type"] != "extra_forbidden" or not isinstance(error["loc"][-1], str):
            continue
        parent = error["loc"][:-1]
        allowed = _allowed_keys(model, parent)
        matches = difflib.get_close_matches(error["loc"][-1], allowed, n=1)
        if not matches:
            continue
        caused = [other for other in errors if other["type"] == "missing" and other["loc"] == (*parent, matches[0])]
        message = f"unknown key; allowed: {', '.join(allowed)}; did you mean {matches[0]!r}?"
        others = len(errors) - 1 - len(caused) + other_errors
        return ConfigError(source, _prefixed(prefix, format_key_path(error["loc"])), _and_others(message, others))
    return None
