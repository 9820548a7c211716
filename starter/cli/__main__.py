"""`python -m starter.cli`: the same as the `resolutions` command."""

from starter.cli import run

run()
