"""Calibration of a job's competency weights from hiring outcomes (`sightline calibrate`)."""
