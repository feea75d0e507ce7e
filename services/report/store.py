"""Storing a rendered report beside the interview's other objects."""

from __future__ import annotations

from services.common.contracts import ObjectRef
from services.common.objectstore import ObjectStore

from .model import ReportInput
from .render import render_html

HTML_CONTENT_TYPE = "text/html"


def report_key(report: ReportInput) -> str:
    """``<tenant>/<interview>/report/profile-v<N>.html``: one object per profile version, so a re-analysis
    never overwrites the report an earlier profile pointed at."""
    profile = report.profile
    return f"{profile.tenant_id}/{profile.interview_id}/report/profile-v{profile.profile_version}.html"


def render_report_to_store(store: ObjectStore, bucket: str, key: str, report: ReportInput) -> ObjectRef:
    """Render ``report`` and store it under ``bucket``/``key``; the reference fits ProfileReady.report."""
    stored = store.put_bytes(bucket, key, render_html(report).encode("utf-8"), content_type=HTML_CONTENT_TYPE)
    return ObjectRef(
        bucket=stored.bucket,
        key=stored.key,
        sha256=stored.sha256,
        size_bytes=stored.size,
        content_type=stored.content_type,
    )
