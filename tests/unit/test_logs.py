from __future__ import annotations

import json
import logging

from services.common.logs import JsonFormatter, log_context


def test_json_lines_carry_the_interview_context_and_extras() -> None:
    record = logging.LogRecord("sightline.test", logging.INFO, __file__, 1, "processed %s", ("chunk",), None)
    record.chunk = 3
    with log_context(interview_id="iv-1", stage="frames"), log_context(offset=42):
        line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["msg"] == "processed chunk"
    assert entry["interview_id"] == "iv-1" and entry["stage"] == "frames" and entry["offset"] == 42
    assert entry["chunk"] == 3 and entry["level"] == "info"
    outside = json.loads(JsonFormatter().format(record))
    assert "interview_id" not in outside
