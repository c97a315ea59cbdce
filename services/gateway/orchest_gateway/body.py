"""Reading a JSON request body: size limit, syntax, what JSON allows but
storage does not, duplicate keys, schema, limits.

Every problem found is reported at once: a key given twice anywhere in the
document (JSON parsers silently keep the last one, which would hide a
duplicate step uuid), a string holding U+0000 (Postgres text and jsonb cannot
hold it) or half of a surrogate pair (not encodable as UTF-8), nesting deeper
than ``ORCHEST_MAX_JSON_DEPTH``, then every schema problem pydantic finds and
every limit the endpoint's ``check`` finds. A body that is not UTF-8, and
``NaN``, ``Infinity`` and numbers no double holds (``1e400``), all of which
Python's parser takes, are not JSON: 400.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from orchest_schemas.errors import ErrorDetail
from orchest_service.commands import validation_details

from .errors import ApiError
from .settings import GatewaySettings

ModelT = TypeVar("ModelT", bound=BaseModel)
EnumT = TypeVar("EnumT", bound=StrEnum)
Check = Callable[[Any, int], list[ErrorDetail]]
"""Further problems of a parsed document (limits), given it and the body's
size in bytes, listed with the others."""
Loc = list[str | int]
MAX_LISTED = 1000
"""At most this many problems are listed in one answer (the message counts all)."""


class _Object(dict[str, Any]):
    duplicates: tuple[str, ...] = ()
    """Keys given more than once (the last value is kept)."""


@dataclass
class Parsed:
    """A body parsed: the document, its text, whether a key was given twice."""

    document: Any
    text: str
    duplicates: bool = False
    """Whether some object has a key given more than once."""

    def object_hook(self, pairs: list[tuple[str, Any]]) -> _Object:
        obj = _Object(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            again: list[str] = []
            for key, _ in pairs:
                if key in seen:
                    again.append(key)
                seen.add(key)
            obj.duplicates = tuple(again)
            self.duplicates = True
        return obj


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: JSON, but no double holds it
        raise ValueError(f"the number {text} is out of range")
    return value


_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
"""In JSON text read as strict UTF-8, U+0000 and surrogates can only come as
``\\u`` escapes: a body without one needs no look at its strings."""


def _clean(text: str) -> bool:
    """Neither U+0000 nor half of a surrogate pair in ``text``."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_problem(text: str, loc: Loc, what: str) -> ErrorDetail:
    if "\x00" in text:
        return ErrorDetail(
            loc=loc, msg=f"{what} contains the character U+0000", type="null_character"
        )
    return ErrorDetail(
        loc=loc, msg=f"{what} contains half of a surrogate pair", type="invalid_unicode"
    )


_Chain = tuple[Any, str | int] | None
"""Where a node is: (the parent's chain, its key), built only for problems."""


def _loc(chain: _Chain, *last: str | int) -> Loc:
    parts: Loc = list(reversed(last))
    while chain is not None:
        chain, key = chain
        parts.append(key)
    parts.reverse()
    return parts


def scan(document: Any, max_depth: int, texts: bool = True) -> tuple[list[ErrorDetail], bool]:
    """The problems of a parsed document that no schema sees (keys given
    twice; with ``texts``, strings and keys that storage cannot hold), and
    whether it nests deeper than ``max_depth`` containers (then nothing
    deeper is read). Iterative, so a deep document cannot exhaust the stack."""
    found: list[ErrorDetail] = []
    too_deep = False
    if isinstance(document, str) and texts:
        return ([] if _clean(document) else [_text_problem(document, [], "the string")]), False
    stack: list[tuple[Any, int, _Chain]] = [(document, 1, None)]
    while stack:
        node, depth, chain = stack.pop()
        if depth > max_depth:
            if not too_deep:
                found.append(
                    ErrorDetail(
                        loc=_loc(chain),
                        msg=f"nested deeper than {max_depth} levels",
                        type="too_deep",
                    )
                )
                too_deep = True
            continue
        if isinstance(node, dict):
            for key in dict.fromkeys(getattr(node, "duplicates", ())):  # _Object
                found.append(
                    ErrorDetail(
                        loc=_loc(chain, key),
                        msg=f"key {key!r} appears more than once",
                        type="duplicate_key",
                    )
                )
            items: Any = node.items()
        else:
            items = enumerate(node)
        for key, value in items:
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, (chain, key)))
            elif texts and isinstance(value, str) and not _clean(value):
                found.append(_text_problem(value, _loc(chain, key), "the string"))
            if texts and isinstance(key, str) and not _clean(key):
                found.append(_text_problem(key, _loc(chain, key), "the key"))
    found.sort(key=lambda e: [str(part) for part in e.loc])
    return found, too_deep


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused with 413 once larger than ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body larger than {max_bytes} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise ApiError(413, f"request body larger than {max_bytes} bytes")
    return bytes(raw)


def _deeper_than(document: Any, max_depth: int) -> bool:
    """Whether ``document`` nests more than ``max_depth`` containers (fast: no locations)."""
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for value in node.values() if isinstance(node, dict) else node:
            if isinstance(value, dict | list):
                stack.append((value, depth + 1))
    return False


def parse_json(raw: bytes) -> Parsed:
    """The document, keys given twice remembered; 400 unless it is JSON in
    UTF-8 (RFC 8259; Python's parser would also take UTF-16 and UTF-32, and
    surrogates encoded in UTF-8)."""
    try:
        parsed = Parsed(None, raw.decode("utf-8"))
        parsed.document = json.loads(
            parsed.text,
            object_pairs_hook=parsed.object_hook,
            parse_constant=_not_json,
            parse_float=_finite,
        )
        return parsed
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            400,
            "request body is not valid JSON",
            [ErrorDetail(loc=[], msg=str(exc), type="json_invalid")],
        ) from None


class Accepted(Generic[ModelT]):
    """Bodies of one endpoint found valid lately, by their bytes: the same
    bytes again are the same (frozen) model and the same JSON of it for its
    owner, not parsed, scanned, validated, checked and encoded again (a
    pipeline is run again and again unchanged). Exact: what is read from the
    bytes is a function of the bytes, ``model``, the endpoint's ``check`` and
    the gateway's settings, all fixed per endpoint and gateway, and the JSON
    a function of the model. Only accepted bodies are kept: at most
    ``MAX_ENTRIES``, each of at most ``MAX_BODY`` bytes, ``MAX_HELD`` bytes
    of body and JSON in all (a body parsed takes about 17 times its size:
    0.9 MB for a 52 kB, 320-step body)."""

    MAX_ENTRIES = 64
    MAX_BODY = 64 * 1024
    MAX_HELD = 256 * 1024

    def __init__(self, model: type[ModelT]) -> None:
        if not model.model_config.get("frozen"):
            raise TypeError(f"{model.__name__} is not frozen: its values cannot be shared")
        self.model = model
        self._entries: OrderedDict[bytes, tuple[ModelT, bytes]] = OrderedDict()
        self._held = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, raw: bytes) -> tuple[ModelT, bytes] | None:
        """The model read from ``raw`` before, and its JSON."""
        kept = self._entries.get(raw)
        if kept is not None:
            self._entries.move_to_end(raw)
            self.hits += 1
        return kept

    def put(self, raw: bytes, value: ModelT, encoded: bytes) -> None:
        if len(raw) <= self.MAX_BODY and raw not in self._entries:
            self._entries[raw] = (value, encoded)
            self._held += len(raw) + len(encoded)
            while len(self._entries) > self.MAX_ENTRIES or self._held > self.MAX_HELD:
                old, (_, old_encoded) = self._entries.popitem(last=False)
                self._held -= len(old) + len(old_encoded)


async def read_json(
    request: Request,
    model: type[ModelT],
    settings: GatewaySettings,
    check: Check | None = None,
) -> ModelT:
    """The body as ``model``, or a 400/413/422 listing every problem."""
    raw = await read_body(request, settings.max_body_bytes)
    return _validated(raw, model, settings, check)


async def read_encoded(
    request: Request,
    model: type[ModelT],
    settings: GatewaySettings,
    check: Check | None,
    accepted: Accepted[ModelT],
) -> tuple[ModelT, bytes]:
    """``read_json``, with the model's JSON (``model_dump_json``) for its
    owner: both taken from ``accepted`` for bytes accepted before, else made
    and kept in it."""
    assert accepted.model is model
    raw = await read_body(request, settings.max_body_bytes)
    kept = accepted.get(raw)
    if kept is not None:
        return kept
    value = _validated(raw, model, settings, check)
    encoded = value.model_dump_json().encode()
    accepted.put(raw, value, encoded)
    return value, encoded


def _validated(
    raw: bytes, model: type[ModelT], settings: GatewaySettings, check: Check | None
) -> ModelT:
    """``raw`` as ``model``, or a 400/422 listing every problem."""
    parsed = parse_json(raw)
    document = parsed.document
    suspect = "\\u" in parsed.text and _SUSPECT.search(parsed.text) is not None
    problems: list[ErrorDetail] = []
    too_deep = False
    if suspect or parsed.duplicates or _deeper_than(document, settings.max_json_depth):
        problems, too_deep = scan(document, settings.max_json_depth, texts=suspect)
    value: ModelT | None = None
    if not too_deep:
        try:
            value = model.model_validate(document)
        except ValidationError as exc:
            problems += validation_details(exc)
        if check is not None:
            problems += check(document, len(raw))
    if problems or value is None:
        message = f"invalid {model.__name__}: {len(problems)} problem(s)"
        if len(problems) > MAX_LISTED:
            message += f", the first {MAX_LISTED} listed"
        raise ApiError(422, message, problems[:MAX_LISTED])
    return value


def query_text(request: Request, name: str) -> str | None:
    """An optional free-text query parameter (a filter); 422 if it holds U+0000."""
    raw = request.query_params.get(name)
    if raw is not None and not _clean(raw):
        problem = _text_problem(raw, ["query", name], "the value")
        raise ApiError(422, f"invalid query parameter {name!r}", [problem])
    return raw


def query_uuid(request: Request, name: str) -> str | None:
    """An optional query parameter naming something by uuid; 422 if malformed."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        problem = ErrorDetail(loc=["query", name], msg="must be a uuid", type="query_invalid")
        raise ApiError(422, f"invalid query parameter {name!r}", [problem]) from None


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [
                ErrorDetail(
                    loc=["query", name],
                    msg=f"must be an integer from {low} to {high}",
                    type="query_invalid",
                )
            ],
        )
    return value


def query_bool(request: Request, name: str) -> bool:
    """An optional boolean query parameter (``true``/``false``, ``1``/``0``,
    ``yes``/``no``, any case); left out, it is false."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = raw.lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [ErrorDetail(loc=["query", name], msg="must be true or false", type="query_invalid")],
        )
    return value in ("true", "1", "yes")


def query_choice(request: Request, name: str, choices: type[EnumT]) -> EnumT | None:
    """An optional query parameter naming one of ``choices`` (any case)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return choices(raw.upper())
    except ValueError:
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [
                ErrorDetail(
                    loc=["query", name],
                    msg="must be one of " + ", ".join(c.value for c in choices),
                    type="query_invalid",
                )
            ],
        ) from None
