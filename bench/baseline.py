"""The baseline: a bare Flask endpoint returning a constant JSON document.

Served by gunicorn with the same settings as the service, it is the practical
ceiling of the stack on this machine; every figure of the benchmark is given as
a ratio to it. ``BENCH_BASELINE_DOC`` names a JSON file (an application's
representation, so the body has the same size); it is parsed once and
serialized on every request, as a minimal JSON endpoint would.
"""

from __future__ import annotations

import json
import os

from flask import Flask, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]

with open(os.environ["BENCH_BASELINE_DOC"]) as _handle:
    DOCUMENT = json.load(_handle)


@app.get("/", defaults={"path": ""})
@app.get("/<path:path>")
def constant(path: str):
    """The constant document."""
    return jsonify(DOCUMENT)
