"""Report: the HR-facing HTML page that explains one candidate profile.

:func:`render_html` turns a :class:`ReportInput` (the profile-ready event, the interview's vision-features
and speech-results events, its key frames) into one self-contained HTML file in English or Chinese;
:func:`render_report_to_store` stores it. ``python -m services.report INPUT.json --out report.html``
renders from a JSON file of a ReportInput.
"""

from .model import KeyFrame, ReportInput
from .render import render_html
from .store import render_report_to_store, report_key

__all__ = ["KeyFrame", "ReportInput", "render_html", "render_report_to_store", "report_key"]
