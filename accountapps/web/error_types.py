"""Every ``_error.type`` the service can answer with, and what it means.

Each errorResponse links to its type's description here
(``_error._links.describedby``, served at ``/accountApplications/errors/{type}``),
so that a client meeting an unfamiliar error can find out what to do.
``tests/test_error_types.py`` reads the code for every type it can raise and
fails when one is missing here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorType:
    """One kind of error: its usual status, a title, and what a client should do."""

    status: int
    title: str
    description: str


ERROR_TYPES: dict[str, ErrorType] = {
    "badRequest": ErrorType(400, "Bad request",
                            "The request is not one this service can read. Correct it and retry."),
    "invalidJson": ErrorType(400, "Invalid JSON",
                             "The body is not a JSON document (RFC 8259), is empty, repeats a "
                             "member, or nests too deeply. Send one JSON object."),
    "invalidFields": ErrorType(400, "Invalid fields",
                               "The body is JSON but not of the documented shape: each bad field "
                               "is listed in `_embedded.errors`. Correct them and retry."),
    "invalidCharacter": ErrorType(400, "Invalid character",
                                  "The body or the URL holds a character no stored text can hold "
                                  "(U+0000 or a lone surrogate)."),
    "incompleteBody": ErrorType(400, "Incomplete body",
                                "The body ended before its declared length, or its chunked "
                                "framing was broken. Nothing was written; send it again."),
    "invalidHost": ErrorType(400, "Invalid host",
                             "The Host header names no host this service answers for."),
    "invalidQueryParameter": ErrorType(
        400, "Invalid query parameter",
        "A query parameter is not well formed (400), or is well formed but out of range or not "
        "one of the allowed values (422). `attributes.name` names it."),
    "missingQueryParameter": ErrorType(400, "Missing query parameter",
                                       "A required query parameter is missing: "
                                       "`attributes.name` names it."),
    "malformedFilter": ErrorType(400, "Malformed filter",
                                 "The `filter` expression does not follow the grammar; "
                                 "`attributes.position` says where it goes wrong."),
    "queryTooLong": ErrorType(400, "Query too long",
                              "The query would not fit in the page's links. Shorten it."),
    "invalidApplication": ErrorType(400, "Invalid application",
                                    "The action names no application of yours: send the id or "
                                    "the URI from the application's action link."),
    "invalidEnrollment": ErrorType(400, "Invalid enrollment",
                                   "The action names no enrollment of yours: send the id or the "
                                   "URI from the enrollment's action link."),
    "invalidIdempotencyKey": ErrorType(400, "Invalid Idempotency-Key",
                                       "The Idempotency-Key header must be 1 to 255 "
                                       "printable ASCII characters."),
    "idempotencyKeyRequired": ErrorType(400, "Idempotency-Key required",
                                        "This service requires an Idempotency-Key header on "
                                        "every POST: send a new unique key with each request "
                                        "(and the same one when retrying it)."),
    "unauthorized": ErrorType(401, "Unauthorized",
                              "The API key or the access token is missing, invalid or expired. "
                              "Send a valid `API-Key` header and `Authorization: Bearer` token."),
    "forbidden": ErrorType(403, "Forbidden",
                           "The caller may not do this to this resource (for example an "
                           "applicant asking for an institution's action)."),
    "insufficientScope": ErrorType(403, "Insufficient scope",
                                   "The access token does not grant the scope this operation "
                                   "requires (`attributes.requiredScope`)."),
    "notFound": ErrorType(404, "Not found",
                          "There is no such resource, or it is not the caller's."),
    "methodNotAllowed": ErrorType(405, "Method not allowed",
                                  "The resource does not answer this method; `Allow` lists "
                                  "those it does."),
    "requestTimeout": ErrorType(408, "Request timeout",
                                "The request's head and body did not arrive in time; the "
                                "connection is closed. Send the request again, whole."),
    "notAcceptable": ErrorType(406, "Not acceptable",
                               "The service cannot answer in a media type the request accepts."),
    "conflict": ErrorType(409, "Conflict", "The request conflicts with the resource's state."),
    "concurrentModification": ErrorType(409, "Concurrent modification",
                                        "The resource kept changing while the service tried to "
                                        "apply the request. Fetch it again and retry."),
    "invalidStateTransition": ErrorType(409, "Invalid state transition",
                                        "The resource cannot move from its state "
                                        "(`attributes.state`) to the one asked for. Follow only "
                                        "the action links the resource carries."),
    "approvalBlocked": ErrorType(409, "Approval blocked",
                                 "Requirements are not complete: each blocker is listed in "
                                 "`_embedded.errors`."),
    "resourceCompleted": ErrorType(409, "Resource completed",
                                   "A completed application or enrollment is retained "
                                   "unchanged."),
    "deleteNotAllowed": ErrorType(409, "Delete not allowed",
                                  "The resource cannot be deleted in its state "
                                  "(`attributes.state`)."),
    "applicationInProgress": ErrorType(409, "Application in progress",
                                       "The user already has an application in progress "
                                       "(`attributes.application`): finish or cancel it first."),
    "enrollmentInProgress": ErrorType(409, "Enrollment in progress",
                                      "The user already has an enrollment in progress "
                                      "(`attributes.enrollment`)."),
    "idempotencyKeyInUse": ErrorType(409, "Idempotency-Key in use",
                                     "A request with this key is still being processed: retry "
                                     "after `Retry-After` seconds to get its answer."),
    "preconditionFailed": ErrorType(412, "Precondition failed",
                                    "The `If-Match` tag is not the resource's current ETag (it "
                                    "changed since it was fetched), or `If-None-Match` names it. "
                                    "Fetch it again, reapply the change and retry."),
    "requestBodyTooLarge": ErrorType(413, "Request body too large",
                                     "The body is larger than the service accepts."),
    "requestUriTooLong": ErrorType(414, "Request URI too long",
                                   "The request line is longer than the service reads."),
    "unsupportedMediaType": ErrorType(415, "Unsupported media type",
                                      "Send the body as `application/json` (or "
                                      "`application/hal+json`)."),
    "expectationFailed": ErrorType(417, "Expectation failed",
                                   "The `Expect` header asks for something the service does "
                                   "not do."),
    "unprocessableEntity": ErrorType(422, "Unprocessable entity",
                                     "The request is well formed but cannot be processed."),
    "productNotOffered": ErrorType(422, "Product not offered",
                                   "The product is not offered to this applicant type or "
                                   "country (the product lists those it is)."),
    "idempotencyKeyReused": ErrorType(422, "Idempotency-Key reused",
                                      "The key was used for a different request "
                                      "(`attributes.differences` says what differs): use a new "
                                      "key for a new request."),
    "unknownEvent": ErrorType(422, "Unknown event",
                              "The request names an event type (or an event) the service "
                              "does not know: the event types are listed in the OpenAPI "
                              "document's webhooks."),
    "invalidSortField": ErrorType(422, "Invalid sort field",
                                  "`sortBy` names a field the collection cannot be sorted by "
                                  "(`attributes.allowed` lists those it can)."),
    "invalidFilterField": ErrorType(422, "Invalid filter field",
                                    "The filter names a field the collection cannot be filtered "
                                    "on (`attributes.allowed`)."),
    "invalidFilterValue": ErrorType(422, "Invalid filter value",
                                    "A filter value is not valid for its field."),
    "valueOutOfRange": ErrorType(422, "Value out of range",
                                 "A value is too large for the database to hold."),
    "preconditionRequired": ErrorType(428, "Precondition required",
                                      "This operation needs an `If-Match` header with the "
                                      "resource's current ETag: fetch it and send its ETag."),
    "tooManyRequests": ErrorType(429, "Too many requests",
                                 "The client sent too many requests: wait as `Retry-After` "
                                 "says, then retry."),
    "requestHeaderFieldsTooLarge": ErrorType(431, "Request header fields too large",
                                             "The request's headers are larger than the "
                                             "service reads."),
    "internalError": ErrorType(500, "Internal error",
                               "The service failed; the error is logged under the response's "
                               "request id. Retry later, and report the id if it persists."),
    "databaseUnavailable": ErrorType(503, "Database unavailable",
                                     "The database cannot be reached: retry after "
                                     "`Retry-After` seconds."),
    "notReady": ErrorType(503, "Not ready",
                          "This host cannot serve traffic now (its database does not answer, "
                          "or its schema is older than the release needs)."),
    "serviceUnavailable": ErrorType(503, "Service unavailable", "Retry later."),
    "httpError": ErrorType(400, "HTTP error", "An HTTP-level error without a type of its own."),
}
