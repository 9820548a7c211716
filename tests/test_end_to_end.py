"""The whole thing as a user runs it: `python worker.py` (embedded dev server, SMTP sink) and
the `resolutions` command line in other processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "starter.cli", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def running_worker(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONS_",
                                                                     "TEMPORAL_"))}
    env.update({
        "RESOLUTIONS_DATA_DIR": str(tmp_path / "data"),
        "RESOLUTIONS_DEV_SERVER_PORT": str(free_port()),
        "RESOLUTIONS_DEV_SERVER_UI_PORT": str(free_port()),
        "RESOLUTIONS_SMTP_PORT": str(free_port()),
        "RESOLUTIONS_WEB_PORT": str(free_port()),
        "RESOLUTIONS_SETTINGS_FILE": str(tmp_path / "none.toml"),
    })
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, "worker.py", "--no-web"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Ready." not in (tmp_path / "worker.log").read_text():
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.2)
        yield env, proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def test_raise_act_and_read_through_the_cli(running_worker) -> None:
    env, proc, tmp_path = running_worker
    raised = _cli(env, "raise", "--protocol", "york", "--reference", "2026-0042",
                  "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
                  "--raising-email", "rae@school.example",
                  "--receiving-name", "Rob Receiver", "--receiving-agency", "CSC",
                  "--receiving-email", "rob@csc.example",
                  "--issue", "Closure of the case", "--risk", "Neglect continues",
                  "--nature", "Threshold", "--aim", "Reopen the assessment",
                  "--child-name", "Test Child Beta")
    assert "york-2026-0042" in raised.stdout
    assert "stage 1" in raised.stdout

    missing = _cli(env, "raise", "--protocol", "york", "--reference", "2026-0043",
                   "--raising-name", "A", "--raising-agency", "B", "--receiving-agency", "C",
                   ok=False)
    assert missing.returncode != 0
    assert "the risk to the child" in missing.stderr and missing.stderr.count("\n") == 1

    moved = _cli(env, "outcome", "york-2026-0042", "--stage", "1", "--not-resolved",
                 "--summary", "No agreement", "--by", "Rae Raiser")
    assert "moved to stage 2" in moved.stdout

    refused = _cli(env, "outcome", "york-2026-0042", "--stage", "1", "--resolved",
                   "--summary", "x", "--by", "Rae Raiser", ok=False)
    assert refused.returncode == 1
    assert "Stage 1 is not the current stage" in refused.stderr

    status = json.loads(_cli(env, "status", "york-2026-0042", "--json").stdout)
    assert status["stage"] == "2" and status["status"] == "open"
    assert any(d["source"].startswith("York s5 Stage 2") for d in status["deadlines"])

    deadline = time.monotonic() + 30
    while True:
        listed = json.loads(_cli(env, "list", "--protocol", "york", "--json").stdout)
        if listed and listed[0]["stage"] == "2":
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    assert listed[0]["workflow_id"] == "york-2026-0042"
    assert "Test Child Beta" not in json.dumps(listed)

    timeline = _cli(env, "timeline", "york-2026-0042").stdout
    assert "outcome_recorded" in timeline and "escalated" in timeline

    bad = _cli(env, "status", "york-1999-0000", ok=False)
    assert bad.returncode == 1 and "no such case" in bad.stderr

    # Mail went to the embedded sink.
    index = tmp_path / "data" / "mail" / "index.jsonl"
    deadline = time.monotonic() + 30
    while not index.exists() or len(index.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, "no mail filed"
        time.sleep(0.5)

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
