"""What to analyse: media files, directories of them, or manifests with one row per interview.

A manifest is a CSV file with a header row, or JSON Lines with one object per line. Columns: ``path``
(required; relative to the manifest), ``candidate_ref``, ``job``, ``questions`` (a questions file, relative
to the manifest), ``language``, ``jurisdiction``. An empty cell takes the command line's option.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Extensions taken from a directory (format handling itself is ingest's and frames' business).
MEDIA_EXTENSIONS = frozenset({".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4a", ".mp3", ".wav", ".ogg"})
MANIFEST_EXTENSIONS = frozenset({".csv", ".jsonl"})
MANIFEST_COLUMNS = ("path", "candidate_ref", "job", "questions", "language", "jurisdiction")


class InputError(ValueError):
    """A path or manifest row that cannot be analysed; the message names it."""


@dataclass(frozen=True)
class Recording:
    """One interview to analyse; fields left None take the command line's options."""

    path: Path
    candidate_ref: str | None = None
    job: str | None = None
    questions: Path | None = None
    language: str | None = None
    jurisdiction: str | None = None
    source: str = ""  # where it was named (a manifest row), for error messages


def expand(paths: Iterable[Path]) -> list[Recording]:
    """Every recording named by ``paths``, in order, each file once (the first mention wins)."""
    seen: set[Path] = set()
    out: list[Recording] = []
    for recording in _expand_all(paths):
        key = recording.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(recording)
    return out


def _expand_all(paths: Iterable[Path]) -> Iterator[Recording]:
    for path in paths:
        if path.is_dir():
            yield from (Recording(p) for p in media_files(path))
        elif not path.is_file():
            raise InputError(f"{path}: no such file or directory")
        elif path.suffix.lower() in MANIFEST_EXTENSIONS:
            yield from read_manifest(path)
        elif path.suffix.lower() in MEDIA_EXTENSIONS:
            yield Recording(path)
        else:
            known = ", ".join(sorted(MEDIA_EXTENSIONS | MANIFEST_EXTENSIONS))
            raise InputError(f"{path}: not a recording or a manifest (known extensions: {known})")


def media_files(directory: Path) -> list[Path]:
    """Media files under ``directory`` (recursively, hidden entries skipped), sorted by path."""
    found = [
        p
        for p in directory.rglob("*")
        if p.is_file()
        and p.suffix.lower() in MEDIA_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    return sorted(found)


def read_manifest(manifest: Path) -> list[Recording]:
    """The rows of a CSV or JSONL manifest; relative paths are relative to the manifest's directory."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{manifest}: cannot read: {exc}") from None
    rows = _csv_rows(text) if manifest.suffix.lower() == ".csv" else _jsonl_rows(manifest, text)
    return [_row(manifest, number, row) for number, row in rows]


def _csv_rows(text: str) -> list[tuple[int, Mapping[str, object]]]:
    reader = csv.DictReader(text.splitlines())
    return [(number, row) for number, row in enumerate(reader, start=2) if any((v or "").strip() for v in row.values())]


def _jsonl_rows(manifest: Path, text: str) -> list[tuple[int, Mapping[str, object]]]:
    rows: list[tuple[int, Mapping[str, object]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise InputError(f"{manifest}:{number}: expected a JSON object")
        rows.append((number, row))
    return rows


def _row(manifest: Path, number: int, row: Mapping[str, object]) -> Recording:
    where = f"{manifest}:{number}"
    unknown = sorted(str(k) for k in row if k not in MANIFEST_COLUMNS)
    if unknown:
        raise InputError(f"{where}: unknown column(s) {', '.join(unknown)} (known: {', '.join(MANIFEST_COLUMNS)})")
    cells: dict[str, str | None] = {}
    for column in MANIFEST_COLUMNS:
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where}: {column} must be text, not {type(value).__name__}")
        cells[column] = value.strip() if value and value.strip() else None
    if cells["path"] is None:
        raise InputError(f"{where}: the path is missing")
    path = manifest.parent / cells["path"]
    if not path.is_file():
        raise InputError(f"{where}: {path}: no such file")
    questions = manifest.parent / cells["questions"] if cells["questions"] else None
    return Recording(
        path=path,
        candidate_ref=cells["candidate_ref"],
        job=cells["job"],
        questions=questions,
        language=cells["language"],
        jurisdiction=cells["jurisdiction"],
        source=where,
    )


__all__ = ["MEDIA_EXTENSIONS", "InputError", "Recording", "expand", "media_files", "read_manifest"]
