"""Identities for the local stack: one per role of a tenant, with their tokens in files under ``.local/``.

`make demo` makes them on its first run and reuses them after, so a developer's later commands
(`sightline status`, `sightline report`, `sightline audit bias`) act as the same identities. Token files are
readable by their owner only; the tokens document holds digests only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .tokens import Role, TokenEntry, TokensDocument, new_token, token_digest

#: Who the console acts as at the embedded database's endpoint: it reads for its signed-in users.
CONSOLE = "console"


@dataclass(frozen=True)
class LocalIdentities:
    tokens_file: Path
    token_files: dict[str, Path]  # identity name -> file holding its token

    def env(self, name: str) -> dict[str, str]:
        """The environment that makes a process act as ``name``."""
        return {
            "SIGHTLINE_IDENTITY__TOKENS_FILE": str(self.tokens_file),
            "SIGHTLINE_IDENTITY__TOKEN_FILE": str(self.token_files[name]),
        }

    def shell(self, name: str) -> str:
        return " ".join(f"{k}={v}" for k, v in self.env(name).items())


def local_names(tenant_id: str) -> dict[str, Role]:
    """The identities of ``tenant_id``: one per role, and the console's (a reviewer: it reads, never writes)."""
    names = {f"{tenant_id}-{role.value}": role for role in Role}
    names[f"{tenant_id}-{CONSOLE}"] = Role.REVIEWER
    return names


def ensure_local_identities(directory: Path, tenant_id: str) -> LocalIdentities:
    """The tenant's local identities, drawn once: reused while every token file is there."""
    names = local_names(tenant_id)
    token_files = {name: directory / f"{name}.token" for name in names}
    tokens_file = directory / "tokens.json"
    if tokens_file.exists() and all(path.exists() for path in token_files.values()):
        document = TokensDocument.model_validate_json(tokens_file.read_bytes())
        known = {entry.token_sha256 for entry in document.identities}
        if all(token_digest(path.read_text(encoding="utf-8")) in known for path in token_files.values()):
            return LocalIdentities(tokens_file, token_files)
    directory.mkdir(parents=True, exist_ok=True)
    # Other tenants' local identities (the demo's, a `sightline analyse --tenant` run's) stay valid.
    entries = [e for e in _existing(tokens_file) if e.name not in names]
    for name, role in names.items():
        token = new_token()
        _write_private(token_files[name], token + "\n")
        entries.append(TokenEntry(name=name, tenant_id=tenant_id, role=role, token_sha256=token_digest(token)))
    _write_private(tokens_file, TokensDocument(identities=entries).model_dump_json(indent=2))
    return LocalIdentities(tokens_file, token_files)


def _existing(tokens_file: Path) -> list[TokenEntry]:
    if not tokens_file.exists():
        return []
    return list(TokensDocument.model_validate_json(tokens_file.read_bytes()).identities)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
