"""A PostgreSQL schema of its own for one conformance run (conformance/run.sh).

    python -m conformance.pg_schema create URL        # prints the new schema's name
    python -m conformance.pg_schema url URL SCHEMA    # prints URL with search_path=SCHEMA
    python -m conformance.pg_schema drop URL SCHEMA

``create`` exits 3 when no server answers at ``URL`` (the caller decides
whether that skips the run or fails it).
"""

from __future__ import annotations

import os
import sys
import uuid

from tests.databases import _connect, with_schema

UNREACHABLE = 3


def main(argv: list[str]) -> int:
    """Run one command of the module docstring."""
    command, url, *rest = argv
    if command == "url":
        print(with_schema(url, rest[0]))
        return 0
    try:
        conn = _connect(url)
    except Exception as exc:  # any driver or network error means: no server
        print(f"pg_schema: cannot connect: {exc}".strip(), file=sys.stderr)
        return UNREACHABLE
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        if command == "create":
            schema = f"conformance_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            cur.execute(f'CREATE SCHEMA "{schema}"')
            print(schema)
        elif command == "drop":
            cur.execute(f'DROP SCHEMA IF EXISTS "{rest[0]}" CASCADE')
        else:
            print(__doc__, file=sys.stderr)
            return 2
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
