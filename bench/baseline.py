"""The baselines: bare Flask endpoints returning an application's representation.

Served by gunicorn with the same settings as the service, they are the
practical ceiling of the stack on this machine; every figure of the benchmark
is given as a ratio to one of them. ``BENCH_BASELINE_DOC`` names a JSON file
holding the bytes of an application as the service sends them.

- ``/jsonify``: the document is parsed once and serialised by ``jsonify`` on
  every request, as a minimal JSON endpoint would;
- ``/bytes``: the very bytes, with the service's media type, serialised
  never: the strictest ceiling (only the stack's own work remains).
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]

with open(os.environ["BENCH_BASELINE_DOC"], "rb") as _handle:
    BYTES = _handle.read()
DOCUMENT = json.loads(BYTES)


@app.get("/jsonify")
def serialised() -> Response:
    """The document, serialised on every request."""
    return jsonify(DOCUMENT)


@app.get("/bytes")
def same_bytes() -> Response:
    """The document's bytes as they are."""
    return Response(BYTES, content_type="application/hal+json")
