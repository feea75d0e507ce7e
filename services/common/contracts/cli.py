"""``python -m services.common.contracts`` / ``schemas``: export and check the contract files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .paths import SCHEMAS_DIR
from .schemafiles import canonicalize_examples, check_all, export_schemas, validate_document

_ROOT = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=SCHEMAS_DIR,
    show_default=True,
    help="The schemas/ directory.",
)


@click.group()
def schemas() -> None:
    """Event contracts: JSON Schemas generated from the pydantic models."""


@schemas.command()
@_ROOT
def export(root: Path) -> None:
    """Write schemas/events/v1/*.schema.json from the models and put examples in canonical form."""
    changed = export_schemas(root) + canonicalize_examples(root)
    for path in changed:
        click.echo(f"wrote {path}")
    if not changed:
        click.echo("schemas and examples are up to date")


@schemas.command()
@_ROOT
def check(root: Path) -> None:
    """Fail if schema files, topics.yaml or examples disagree with the models."""
    problems = check_all(root)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo("contracts are consistent")


@schemas.command()
@click.argument("event_type")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_ROOT
def validate(event_type: str, files: tuple[Path, ...], root: Path) -> None:
    """Validate JSON files holding EVENT_TYPE events against its schema and model."""
    failed = False
    for path in files:
        problems = validate_document(event_type, path.read_bytes(), root)
        failed = failed or bool(problems)
        for problem in problems:
            click.echo(f"{path}: {problem}", err=True)
        if not problems:
            click.echo(f"{path}: valid {event_type}")
    if failed:
        sys.exit(1)
