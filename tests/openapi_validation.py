"""Every response the test suite receives is checked against ``openapi/openapi.yaml``.

:class:`ValidatingClient` is installed as the app's ``test_client_class`` (see
``conftest.app``), so no test can pass on a response that the committed
OpenAPI document does not allow: an undocumented status, a missing header, a
body that does not match its schema. Responses to routes that are not API
operations (unknown paths, unsupported methods) must still be errorResponses;
only the anonymous documentation routes (JSON Schemas, the docs page) are
outside the document.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import (
    OperationNotFound,
    PathNotFound,
    ServerNotFound,
)

from accountapps.apidoc.profiles import json_schema
from accountapps.web import hal

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"

#: Routes that are deliberately not API operations (see accountapps/apidoc).
UNDOCUMENTED_PREFIXES = (f"{hal.BASE_PATH}/schemas/", f"{hal.BASE_PATH}/docs")


@cache
def spec_document() -> dict[str, Any]:
    """The committed OpenAPI document."""
    return yaml.safe_load(OPENAPI_FILE.read_text())


@cache
def openapi() -> OpenAPI:
    """openapi-core over the committed document."""
    config = Config(extra_media_type_deserializers={
        hal.MEDIA_TYPE: json.loads, "application/yaml": yaml.safe_load})
    return OpenAPI.from_dict(spec_document(), config=config)


@cache
def error_validator() -> Draft202012Validator:
    """A validator of errorResponse bodies, for answers outside any operation."""
    return Draft202012Validator(json_schema("errorResponse", spec_document()))


class _Request(WerkzeugOpenAPIRequest):
    """The request as openapi-core needs it to find the operation (its body is spent)."""

    @property
    def body(self) -> bytes | None:
        return None


class ConformanceError(AssertionError):
    """A response that the OpenAPI document does not allow."""


def check_response(response: Any) -> None:
    """Raise :class:`ConformanceError` unless the document allows ``response``."""
    request = response.request
    if request.method in ("OPTIONS", "HEAD"):
        # OPTIONS: Flask's (or the CORS preflight's) answer, no operation, no body;
        # HEAD: the GET operation's answer without its body.
        return
    try:
        openapi().validate_response(_Request(request),
                                    WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound, ServerNotFound) as exc:  # no operation here
        if request.path.startswith(UNDOCUMENTED_PREFIXES) and request.method == "GET":
            return
        if response.status_code < 400:
            raise ConformanceError(
                f"{request.method} {request.path} answered {response.status_code} "
                f"but is not an operation of the OpenAPI document") from exc
        errors = sorted(error_validator().iter_errors(json.loads(response.get_data())),
                        key=str)
        if errors or response.mimetype != hal.MEDIA_TYPE:
            raise ConformanceError(
                f"{request.method} {request.path} answered {response.status_code} "
                f"without a valid errorResponse: {errors[:1]}") from exc
    except Exception as exc:
        raise ConformanceError(
            f"{request.method} {request.full_path} -> {response.status_code} does not "
            f"conform to openapi/openapi.yaml: {_explain(exc)}\nbody: "
            f"{response.get_data()[:2000].decode(errors='replace')}") from exc


def _explain(exc: BaseException) -> str:
    """The exception and its causes, with the schema errors openapi-core collected."""
    parts = []
    current: BaseException | None = exc
    while current is not None:
        parts.append(repr(current))
        parts += [f"  at {list(error.absolute_path)}: {error.message}"
                  for error in getattr(current, "schema_errors", ())]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


class ValidatingClient(FlaskClient):
    """A Flask test client that checks every response against the OpenAPI document."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        check_response(response)
        return response
