from __future__ import annotations

import random

from services.common.processing import backoff_delay


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(a, 0.5, 8.0, rng) for a in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        nominal = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert 0.8 * nominal <= delay <= min(8.0, 1.2 * nominal)
    assert max(delays) <= 8.0
    assert delays[3] > delays[0] * 4
