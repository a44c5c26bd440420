"""Request bodies: JSON (RFC 8259) only, parsed once, of bounded depth, storable text.

Every ``POST``, ``PUT`` and ``PATCH`` body passes :func:`check_body` before its
view runs, so each operation refuses a bad body with the same error:

- ``415`` for a media type other than JSON;
- ``400 invalidJson`` for a body that does not parse (saying why), an empty
  ``PUT``/``PATCH`` body, ``NaN``/``Infinity``/numbers too large for a float
  (:class:`RequestJSON`), and nesting deeper than :data:`MAX_DEPTH`;
- ``400 invalidCharacter`` for a string (or key) holding U+0000 or a lone
  surrogate: PostgreSQL's text cannot store U+0000 and no UTF-8 encodes a lone
  surrogate, so neither database could store it.

The views then read the parsed body: webargs through :class:`BodyParser`
(every resource module's :class:`Blueprint`), the others ``request.get_json()``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Request, current_app
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from accountapps.domain.errors import ApiError
from accountapps.storage.text import unstorable
from accountapps.web import hooks
from accountapps.web.limits import read_body

F = TypeVar("F", bound=Callable[..., Any])

JSON_TYPES = {"application/json", "application/hal+json", "application/merge-patch+json"}

#: Deepest nesting of objects and arrays a body may have. The documented
#: representations nest about eight levels; the bound keeps every later walk
#: of a body or of a stored document (copies, merges, validation) far from the
#: interpreter's recursion limit.
MAX_DEPTH = 32

_SEND_JSON = "Send a JSON object of the documented shape."

#: How one can arrive in a UTF-8 body: escaped, or as raw surrogate bytes
#: (ED A0-BF: the standard library decodes them with "surrogatepass").
_UNSTORABLE_BYTES = re.compile(rb"\\u0000|\\u[dD][89abAB]|\\u[dD][c-fC-F]|\xed[\xa0-\xbf]")


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: too large for a float, read as infinity
        raise ValueError(f"{text[:32]} is out of range")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise ValueError(f"the member name {key[:64]!r} appears twice in one object")
            seen.add(key)
    return obj


class RequestJSON(DefaultJSONProvider):
    """Flask's JSON provider, reading request bodies as JSON (RFC 8259) only.

    The standard library also reads ``NaN``, ``Infinity`` and numbers too large
    for a float (as infinity). None of them is JSON: a client's library could
    not read them back, and a stored document would hold ``null`` in their
    place. An object naming a member twice is ambiguous (parsers differ on
    which value wins, so a gateway and this service could read two different
    requests). A body with any of these is refused (``400``) like any other
    malformed body.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """``json.loads`` that refuses non-finite numbers and repeated member names."""
        kwargs.setdefault("parse_constant", _not_json)
        kwargs.setdefault("parse_float", _finite)
        kwargs.setdefault("object_pairs_hook", _unique_members)
        return super().loads(s, **kwargs)


class BodyParser(FlaskParser):
    """webargs' parser, reading the body Flask has already parsed.

    webargs parses a JSON body itself with the standard library: a second
    parse of every body, and one that would accept what :class:`RequestJSON`
    refuses. Here it takes ``request.get_json()``, parsed once by
    :func:`check_body`, which has refused a body that does not parse; what is
    left to fail here is an action's absent body, webargs' ``missing``.
    """

    def _raw_load_json(self, req: Any) -> Any:
        if not webargs_core.is_json(req.mimetype):
            return webargs_core.missing
        try:
            return req.get_json()
        except BadRequest as exc:
            # webargs reads an empty ``doc`` as "no body" (``missing``).
            body = req.get_data(cache=True).decode("utf-8", "replace")
            raise json.JSONDecodeError("Invalid JSON body.", body, 0) from exc


class Blueprint(SmorestBlueprint):
    """flask-smorest's blueprint with :class:`BodyParser`: every resource module uses it."""

    ARGUMENTS_PARSER = BodyParser()

    def response(self, status_code: int | str, schema: Any = None,
                 **kwargs: Any) -> Callable[[F], F]:
        """Document a response as flask-smorest's ``response`` does, without wrapping
        the view: every view here returns its :class:`~flask.Response` whole
        (``hal.response`` and the like), which that wrapper only passes on."""
        return _documenting(super().response(status_code, schema, **kwargs))

    def alt_response(self, status_code: int | str, response: Any = None,
                     **kwargs: Any) -> Callable[[F], F]:
        """Document another response as flask-smorest's ``alt_response`` does, without
        wrapping the view (see :meth:`response`)."""
        return _documenting(super().alt_response(status_code, response, **kwargs))

    def documents(self, schema: Any, *, location: str = "json", example: Any = None,
                  refusal: int | None = 422) -> Callable[[F], F]:
        """Document ``schema`` as the view's body or query, as ``arguments`` does,
        without parsing it here: for input the view hands whole to the domain,
        which validates it once (a write's document merged with the stored one,
        a collection's query). ``refusal``: the status documented for input the
        schema refuses (as ``arguments`` documents it), or ``None``.
        """
        parameters: dict[str, Any] = {"in": location, "required": True, "schema": schema}
        if example is not None:
            parameters["example"] = example

        def decorator(view: F) -> F:
            doc = copy.deepcopy(getattr(view, "_apidoc", {}))
            arguments = doc.setdefault("arguments", {})
            arguments.setdefault("parameters", []).append(parameters)
            if refusal is not None:
                arguments.setdefault("responses", {})[refusal] = HTTPStatus(refusal).name
            view._apidoc = doc  # type: ignore[attr-defined]
            return view

        return decorator


def _documenting(decorate: Callable[[F], F]) -> Callable[[F], F]:
    """``decorate``'s documentation on the view itself, instead of its wrapper: each
    wrapper is a call and an ``ensure_sync`` on every request, for nothing."""

    def decorator(view: F) -> F:
        view._apidoc = decorate(view)._apidoc  # type: ignore[attr-defined]
        return view

    return decorator


def _unreadable(data: bytes) -> ApiError:
    """``400 invalidJson`` for a body that did not parse, saying why."""
    if not data.strip():
        return ApiError(400, "invalidJson", "The request body is empty.", remediation=_SEND_JSON)
    try:
        current_app.json.loads(data)
        reason = "it could not be read"  # not reached: it failed a moment ago
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = str(exc)[:200]
    return ApiError(400, "invalidJson", f"The request body is not valid JSON: {reason}.",
                    remediation=_SEND_JSON)


def _too_deep() -> ApiError:
    return ApiError(400, "invalidJson",
                    f"The request body is nested too deeply (more than {MAX_DEPTH} levels).",
                    remediation=_SEND_JSON)


def _nests_deeper(value: dict | list, levels: int) -> bool:
    """True if containers nest more than ``levels`` below ``value``.

    Recursive, but never deeper than ``levels``: no body can exhaust the stack.
    """
    if levels < 0:
        return True
    for child in value.values() if isinstance(value, dict) else value:
        if isinstance(child, dict | list) and _nests_deeper(child, levels - 1):
            return True
    return False


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed body, keys included (its depth is bounded by now)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _inspect(body: Any, data: bytes) -> ApiError | None:
    """The error for ``body`` (parsed from ``data``) if it nests too deeply or holds
    unstorable text. C-speed scans of ``data`` spare most bodies either walk: fewer
    brackets than the limit cannot nest deeper than it, and unstorable text needs an
    escape or surrogate bytes (or an encoding other than UTF-8) to arrive."""
    if (data.count(b"{") + data.count(b"[") > MAX_DEPTH and isinstance(body, dict | list)
            and _nests_deeper(body, MAX_DEPTH - 1)):
        return _too_deep()
    suspect = ((b"\\u" in data or b"\xed" in data)  # two quick finds before the regex
               and _UNSTORABLE_BYTES.search(data) is not None)
    if ((suspect or json.detect_encoding(data) != "utf-8")
            and any(unstorable(text) for text in _strings(body))):
        return ApiError(
            400, "invalidCharacter", "The request body contains the NUL character "
            "(U+0000) or a lone surrogate (\\ud800-\\udfff), which no text may hold.",
            remediation="Remove it; a character beyond U+FFFF is a surrogate pair.")
    return None


def check_body(current: Request, _context: Any) -> None:
    """Before each request: refuse a write's body that no view should see (see module)."""
    if current.method not in ("POST", "PUT", "PATCH") or current.routing_exception:
        return  # no body expected, or routing answers 404/405 first
    environ = current.environ
    has_body = bool(current.content_length) or "chunked" in environ.get(
        "HTTP_TRANSFER_ENCODING", "")
    if not has_body and current.method == "POST":
        return  # an action without a body
    if current.mimetype not in JSON_TYPES:
        raise ApiError(
            415, "unsupportedMediaType",
            "Request bodies must be application/hal+json or application/json.",
            attributes={"contentType": current.mimetype or None},
        )
    # Parse once here (Flask caches it for the views). JSON nested deeper than
    # the interpreter's recursion limit would otherwise crash the parser (500).
    try:
        body = current.get_json(silent=True)
    except RecursionError as exc:
        raise _too_deep() from exc
    data = current.get_data(cache=True)
    if body is None and data.strip() != b"null":
        raise _unreadable(data)
    error = _inspect(body, data)
    if error is not None:
        raise error


def init_app(app: Flask) -> None:
    """Read bodies whole (:func:`~.limits.read_body`), with :class:`RequestJSON`, and
    check each with :func:`check_body`. Install after the caller check."""
    app.json = RequestJSON(app)
    hooks.before(app, read_body)
    hooks.before(app, check_body)
