"""The fault campaign (`make chaos`): the whole pipeline, several replicas per stage, faults from a seeded
schedule, and a check of the history it leaves (tests.chaos.campaign)."""
