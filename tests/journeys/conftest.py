"""Fixtures of the journeys suite (the harness itself is in harness.py)."""

from tests.journeys.harness import journeys, runner, site  # noqa: F401 - fixtures pytest finds here
