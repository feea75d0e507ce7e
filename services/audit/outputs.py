"""The audit as data: the LL144 summary table (CSV) and the whole audit (JSON)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from .bias import BiasAudit

#: Columns of the summary table, one row per (rate, axis, category): what the LL144 rules ask a published
#: summary to state (distribution date, data window, number of applicants, rates and impact ratios, unknowns).
SUMMARY_COLUMNS = (
    "distribution_date",
    "data_from",
    "data_to",
    "applicants",
    "rate",
    "axis",
    "category",
    "category_applicants",
    "selected",
    "rate_value",
    "impact_ratio",
    "reference",
    "excluded_under_min_share",
    "flagged",
    "small_sample",
    "fisher_p",
    "unknown",
)


def summary_rows(audit: BiasAudit) -> list[dict[str, Any]]:
    """The LL144 summary table; impact ratios are empty for the categories left out of the comparison."""
    rows = []
    for table in audit.tables:
        for c in table.categories:
            rows.append(
                {
                    "distribution_date": audit.distribution_date.isoformat() if audit.distribution_date else "",
                    "data_from": audit.data_from.isoformat(),
                    "data_to": audit.data_to.isoformat(),
                    "applicants": audit.applicants,
                    "rate": table.rate,
                    "axis": table.axis,
                    "category": c.category,
                    "category_applicants": c.applicants,
                    "selected": c.selected,
                    "rate_value": round(c.rate, 4),
                    "impact_ratio": None if c.impact_ratio is None else round(c.impact_ratio, 4),
                    "reference": c.reference,
                    "excluded_under_min_share": c.excluded,
                    "flagged": c.flagged,
                    "small_sample": c.small_sample,
                    "fisher_p": None if c.fisher_p is None else round(c.fisher_p, 6),
                    "unknown": table.unknown,
                }
            )
    return rows


def to_csv(audit: BiasAudit) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summary_rows(audit):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def to_json(audit: BiasAudit) -> str:
    """The summary table first, then every table, measure breakdown and flag in full."""
    document = {
        "tenant_id": audit.tenant_id,
        "job_id": audit.job_id,
        "generated_at": audit.generated_at.isoformat(),
        "distribution_date": audit.distribution_date.isoformat() if audit.distribution_date else None,
        "data_from": audit.data_from.isoformat(),
        "data_to": audit.data_to.isoformat(),
        "applicants": audit.applicants,
        "scored": audit.scored,
        "median_overall": audit.median_overall,
        "reviewed": audit.reviewed,
        "human_decisions_recorded": audit.human_decisions_recorded,
        "summary": summary_rows(audit),
        "flags": [asdict(f) for f in audit.flags],
        "measures": [asdict(m) for m in audit.measures],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"


__all__ = ["SUMMARY_COLUMNS", "summary_rows", "to_csv", "to_json"]
