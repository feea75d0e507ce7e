"""``python -m services.common.contracts export|check|validate``."""

from .cli import schemas

schemas(prog_name="python -m services.common.contracts")
