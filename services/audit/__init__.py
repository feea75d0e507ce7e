"""The bias audit: adverse-impact rates and ratios by self-identified category (see docs/fairness.md)."""
