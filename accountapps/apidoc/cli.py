"""``flask apidoc write|check``: the committed OpenAPI YAML and JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from accountapps.apidoc.profiles import all_profiles, relative_path
from accountapps.apidoc.spec import document, to_yaml

OPENAPI_FILE = Path("openapi/openapi.yaml")
SCHEMAS_DIR = Path("schemas")


def schema_text(schema: dict) -> str:
    """The committed form of a JSON Schema: indented, stable, newline-terminated."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated_files(app: Flask) -> dict[Path, str]:
    """Every generated file, relative to the repository root, with its content."""
    doc = document(app)
    files = {OPENAPI_FILE: to_yaml(doc)}
    for name, schema in all_profiles(doc).items():
        files[SCHEMAS_DIR / relative_path(name)] = schema_text(schema)
    return files


def differences(app: Flask, root: Path) -> list[str]:
    """Files under ``root`` that are missing, stale or no longer generated."""
    files = generated_files(app)
    problems = [str(path) for path, text in files.items()
                if not (root / path).is_file() or (root / path).read_text() != text]
    if (root / SCHEMAS_DIR).is_dir():
        problems += [str(path.relative_to(root))
                     for path in sorted((root / SCHEMAS_DIR).rglob("*.json"))
                     if path.relative_to(root) not in files]
    return problems


def init_app(app: Flask) -> None:
    """Register the ``apidoc`` command group."""
    group = AppGroup("apidoc", help="The OpenAPI YAML and JSON Schemas under openapi/, schemas/.")

    @group.command("write")
    @click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False),
                  help="Repository root.")
    def write(root: str) -> None:
        """Regenerate openapi/openapi.yaml and schemas/ from the code."""
        base = Path(root)
        for stale in differences(current_app, base):
            if stale.startswith(str(SCHEMAS_DIR)) and (base / stale).is_file():
                (base / stale).unlink()
        for path, text in generated_files(current_app).items():
            (base / path).parent.mkdir(parents=True, exist_ok=True)
            (base / path).write_text(text)
            click.echo(f"wrote {path}")

    @group.command("check")
    @click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False))
    def check(root: str) -> None:
        """Fail when the committed files differ from what the code generates."""
        problems = differences(current_app, Path(root))
        if problems:
            raise click.ClickException("out of date (run `make openapi`): " + ", ".join(problems))
        click.echo("openapi/ and schemas/ are up to date")

    app.cli.add_command(group)
