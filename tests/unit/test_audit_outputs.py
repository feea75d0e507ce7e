"""The audit's CSV and JSON: the LL144 summary table, with the numbers of the hand-worked table."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from services.audit.bias import SUGGESTED
from services.audit.outputs import SUMMARY_COLUMNS, to_csv, to_json
from tests.unit.test_audit_bias import SMALL, applicants_of, audit


def test_csv_is_the_ll144_summary_table() -> None:
    result = audit(applicants_of(SMALL), distribution_date=date(2026, 2, 1))
    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert len(rows) == sum(len(t.categories) for t in result.tables) == 2 + 2 + 4
    assert {(r["distribution_date"], r["data_from"], r["data_to"], r["applicants"]) for r in rows} == {
        ("2026-02-01", "2026-01-01", "2026-11-30", "14")
    }
    male = next(r for r in rows if r["axis"] == "sex" and r["category"] == "male")
    assert male["rate"] == SUGGESTED and male["category_applicants"] == "7" and male["selected"] == "3"
    assert male["rate_value"] == "0.4286" and male["impact_ratio"] == "0.6429"
    assert male["flagged"] == "True" and male["small_sample"] == "True" and male["unknown"] == "1"
    assert male["fisher_p"] == str(round(1016 / 1716, 6))
    female = next(r for r in rows if r["axis"] == "sex" and r["category"] == "female")
    assert female["reference"] == "True" and female["impact_ratio"] == "1.0" and female["fisher_p"] == ""


def test_json_carries_the_summary_flags_and_measures() -> None:
    result = audit(applicants_of(SMALL))
    document = json.loads(to_json(result))
    assert document["applicants"] == 14 and document["distribution_date"] is None
    assert document["human_decisions_recorded"] is True and document["reviewed"] == 0
    assert len(document["summary"]) == 8 and set(document["summary"][0]) == set(SUMMARY_COLUMNS)
    assert {(f["axis"], f["category"]) for f in document["flags"]} == {
        ("sex", "male"),
        ("race_ethnicity", "asian"),
        ("intersection", "female/asian"),
        ("intersection", "male/white"),
        ("intersection", "male/asian"),
    }
    assert document["flags"][0]["drivers"] == []  # the table has no measures


def test_the_page_says_when_no_review_decision_is_recorded() -> None:
    from services.audit.page import render_audit_html

    absent = render_audit_html(audit(applicants_of(SMALL), human_decisions_recorded=False))
    assert "No review decisions recorded.</p>" in absent
    empty = render_audit_html(audit(applicants_of(SMALL), human_decisions_recorded=True))
    assert "No review decisions recorded for the applicants of this window.</p>" in empty
