"""`resolutions audit replay --all` in several processes gives the report one process gives.

With hundreds of closed cases the command splits the listing across one process per core
(starter.audit.processes); `--processes N` asks for N. Three cases raised and withdrawn
through the `resolutions` command on the one-machine stack (`python -m starter.devstack`, as
`./dev start` runs it) are replayed in one process and in two: the same lines, in the same
order.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import as_operator, cli, devstack

pytestmark = pytest.mark.slow
RAE = ("Rae Raiser", "rae@school.example")


def _closed(env: dict[str, str], want: int) -> list[str]:
    """The closed cases once the server's listing has them all (visibility lags a little)."""
    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(cli(env, "list", "--all", "--json").stdout)
        closed = [c["workflow_id"] for c in listed if c["status"] == "withdrawn"]
        done = cli(env, "audit", "replay", "--all", "--processes", "1").stdout
        if len(closed) >= want and done.count("replayed OK") >= want \
                or time.monotonic() > deadline:
            return closed
        time.sleep(1)


def test_replay_all_in_two_processes_reads_as_in_one(tmp_path: Path) -> None:
    with devstack(tmp_path) as env:
        rae = as_operator(env, *RAE, role_key="raising")
        for i, protocol in enumerate(("york", "leeds", "barnsley")):
            cli(env, "raise", "--protocol", protocol, "--reference", f"2026-720{i}",
                "--raising-name", RAE[0], "--raising-agency", "Example Primary",
                "--raising-email", RAE[1], "--receiving-name", "Rob Receiver",
                "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
                "--issue", "Case closed after one visit", "--risk", "Neglect is continuing",
                "--nature", "Threshold", "--aim", "Reopen the assessment")
            cli(rae, "withdraw", f"{protocol}-2026-720{i}", "--reason", "Raised in error")
        closed = _closed(env, 3)
        one = cli(env, "audit", "replay", "--all", "--processes", "1")
        two = cli(env, "audit", "replay", "--all", "--processes", "2")
        wrong = cli(env, "audit", "replay", "--processes", "2", "york-2026-7200", ok=False)
    assert len(closed) == 3, closed
    assert one.stdout == two.stdout, (one.stdout, two.stdout)
    assert "3 replayed OK, 0 failed." in two.stdout
    for wid in closed:
        assert f"{wid}: replayed OK" in two.stdout
    assert wrong.returncode != 0 and "--processes goes with --all" in wrong.stderr
