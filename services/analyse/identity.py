"""Who `sightline analyse` reads the reports as: each report it exports is an authorised read in the access log.

A configured identity (``SIGHTLINE_IDENTITY__TOKEN`` or ``__TOKEN_FILE``) is used when there is one; it must be
allowed to read the tenant's reports, which is checked before any recording is sent. Without one, the command
acts as the tenant's local analyst (services.identity.local, tokens under the stack's home, as `make demo`
does), and the stages it starts are given the tokens so that the embedded database's owner admits it.
"""

from __future__ import annotations

from services.access import Action, authorize
from services.common.settings import Settings
from services.identity.access_log import cli_origin
from services.identity.local import ensure_local_identities
from services.identity.settings import IdentitySettings
from services.identity.tokens import Caller, resolve_identity


def analyse_caller(settings: Settings, tenant_id: str) -> tuple[Caller, dict[str, str]]:
    """The caller reports are read as, and the environment the stages this command starts need for it.

    Raises `IdentityError` (a token that names nobody) or `AccessDenied` (not allowed to read this tenant's
    reports)."""
    own = settings.identity
    env: dict[str, str] = {}
    if own.token is None and own.token_file is None:
        local = ensure_local_identities(settings.stack.home / "identities", tenant_id)
        own = IdentitySettings(tokens_file=local.tokens_file, token_file=local.token_files[f"{tenant_id}-analyst"])
        env = {"SIGHTLINE_IDENTITY__TOKENS_FILE": str(local.tokens_file)}
    identity, token = resolve_identity(own)
    authorize(identity, Action.REPORT, tenant_id)
    return Caller(identity, token, cli_origin()), env


__all__ = ["analyse_caller"]
