"""Every named query of the product, by name: what the embedded database's endpoint runs for identities
that are not admins (services/common/named_queries.py). A read the product's own code sends for an identity
is declared beside the code that reads it and listed here once."""

from __future__ import annotations

from services.audit.source import QUERIES as AUDIT
from services.calibrate.outcomes import OBSERVATIONS
from services.calibrate.rescore import CURRENT_MODELS
from services.common.named_queries import Catalogue
from services.console.queries import PROFILE, QUEUE
from services.dlq import LETTERS
from services.erasure.retention import STARTED_BEFORE
from services.status import PROGRESS

from .access_log import ACCESS_LOG

CATALOGUE = Catalogue(
    (PROGRESS, ACCESS_LOG, LETTERS, *AUDIT, OBSERVATIONS, CURRENT_MODELS, QUEUE, PROFILE, STARTED_BEFORE)
)
