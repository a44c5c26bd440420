"""Every shell walk-through in the README and docs/ runs, as written, against the service.

Each fenced ``sh`` block of a document is a step of that document's walk-through:
the blocks run in order in one ``bash`` session (so variables carry from one
block to the next), from the repository's root, against the service under the
production gunicorn settings. A command that ends in ``#=> text`` promises that
the last line it prints is ``text``; a promise not kept fails the test, as
does any command that fails. A block preceded by ``<!-- not run: reason -->``
is shown to readers but not run here (starting the service itself, say); a
``<!-- walkthrough settings: NAME=value ... -->`` line gives the service (and the
commands) settings the document says it needs.
The documents use the service's default address, ``127.0.0.1:8000``; the test
points them at the server it started. A walk-through may leave no file behind
in the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from live_server import ROOT, RestartableServer

pytestmark = pytest.mark.own_database

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted(ROOT.glob("*/README.md"))]
FLASK = ROOT / ".venv" / "bin" / "flask"
_BLOCK = re.compile(r"(?:<!--\s*not run:[^>]*-->\s*\n)?```(?:sh|bash)\n(.*?)```", re.S)
_SETTINGS = re.compile(r"<!--\s*walkthrough settings:([^>]*)-->")
_PROMISE = re.compile(r"^(?P<command>.*?)\s+#=>\s?(?P<expected>.*)$")

#: Defines ``expect``: the last line of standard input must be the promised text.
_PRELUDE = r"""
set -euo pipefail
__expect() {
    local out last
    out=$(cat)
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [ "$last" != "$1" ]; then
        printf 'walk-through: promised %s, got %s\n' "$1" "$last" >&2
        exit 1
    fi
}
"""


def walkthrough(document: Path) -> str:
    """The runnable blocks of ``document`` as one bash script (promises turned into checks)."""
    blocks = [match.group(1) for match in _BLOCK.finditer(document.read_text())
              if not match.group(0).startswith("<!--")]
    lines = []
    for line in "\n".join(blocks).splitlines():
        promise = _PROMISE.match(line)
        if promise and not line.lstrip().startswith("#"):
            expected = promise.group("expected").strip().replace("'", "'\\''")
            line = f"{promise.group('command')} | __expect '{expected}'"
        lines.append(line)
    return "\n".join(lines)


#: The documents with something to run (the others show commands only, each marked).
WALKED = [document for document in DOCUMENTS if walkthrough(document).strip()]


def _files() -> set[str]:
    listed = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in listed.splitlines()
            if not line[3:].startswith((".venv/", ".pytest_cache/", ".ruff_cache/"))
            and "__pycache__" not in line}


def test_the_walkthrough_runner_keeps_a_promise_and_refuses_a_broken_one(tmp_path):
    kept, broken = tmp_path / "kept.md", tmp_path / "broken.md"
    kept.write_text("```sh\necho one; echo two  #=> two\n```\n")
    broken.write_text("```sh\necho one  #=> two\n```\n")
    run = [shutil.which("bash") or "bash", "-c"]
    assert subprocess.run([*run, _PRELUDE + walkthrough(kept)]).returncode == 0
    assert subprocess.run([*run, _PRELUDE + walkthrough(broken)],
                          capture_output=True).returncode != 0


def test_the_readme_and_docs_have_walkthroughs():
    assert WALKED[0] == ROOT / "README.md" and len(WALKED) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("document", WALKED, ids=[str(d.relative_to(ROOT)) for d in WALKED])
def test_every_walkthrough_runs_as_written(document, tmp_path):
    script = walkthrough(document)
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is a documented prerequisite and is not installed")
    if not FLASK.exists():
        pytest.skip(f"the walk-throughs use {FLASK.relative_to(ROOT)}: run them via make test")
    settings = {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{tmp_path}/walkthrough.db",
                "ACCOUNTAPPS_JWT_SECRET": "walkthrough-secret-" + "0" * 32,
                "ACCOUNTAPPS_API_KEYS": "walkthrough-readiness-key-000000"}
    for declared in _SETTINGS.findall(document.read_text()):
        settings.update(pair.split("=", 1) for pair in declared.split())
    before = _files()
    server = RestartableServer(settings, workers=2, threads=2, log_dir=tmp_path).start()
    try:
        script = script.replace("127.0.0.1:8000", server.url.removeprefix("http://"))
        env = {**os.environ, **settings, "PATH": os.environ.get("PATH", "")}
        result = subprocess.run(["bash", "-c", _PRELUDE + script], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    assert result.returncode == 0, (
        f"{document.name}: the walk-through failed\n--- stdout\n{result.stdout[-4000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}"
        f"\n--- the service's log\n{server.log_path.read_text()[-4000:]}")
    assert _files() == before, "the walk-through left files in the repository"
