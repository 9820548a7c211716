"""The daily digest, as the partnership runs it: the embedded stack creates its Temporal
Schedule, `resolutions setup-cluster` brings it up to date, an operator triggers it with the
`temporal` CLI, and the business unit's e-mail lands in the embedded SMTP sink (aiosmtpd),
read back with `resolutions mail`.
"""

from __future__ import annotations

import re
import subprocess
import time

from tests.conftest import as_operator, cli, venv_binary

SCHEDULE = "resolutions-daily-digest"


def _mail(env: dict[str, str]) -> str:
    return cli(env, "mail").stdout


def _wait(check, timeout: float = 60.0):  # noqa: ANN001, ANN202 - a polling helper
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.5)


def test_schedule_sends_each_business_unit_its_cases(running_worker) -> None:
    env, _, tmp_path = running_worker
    assert "Daily digest schedule created" in (tmp_path / "worker.log").read_text()
    common = ["--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
              "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
              "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
              "--issue", "Closure", "--risk", "Neglect continues", "--nature", "Threshold",
              "--aim", "Reopen", "--child-name", "Test Child Gamma"]
    cli(env, "raise", "--protocol", "york", "--reference", "2026-0301", *common)
    cli(env, "raise", "--protocol", "leeds", "--reference", "2026-0302", *common)
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    # At stage 2 nobody is named for the line managers' roles: they cannot be told.
    cli(rae, "outcome", "york-2026-0301", "--stage", "1", "--not-resolved",
        "--summary", "No agreement")
    _wait(lambda: "not notified" in cli(env, "status", "york-2026-0301").stdout.lower())

    done = cli(env, "setup-cluster").stdout
    assert f"Schedule {SCHEDULE} updated" in done and "07:30 London time" in done
    address = f"127.0.0.1:{env['RESOLUTIONS_DEV_SERVER_PORT']}"
    described = subprocess.run(
        [venv_binary("temporal"), "schedule", "describe", "--schedule-id", SCHEDULE,
         "--address", address, "-o", "json"], capture_output=True, text=True, env=env,
        timeout=60, check=True).stdout
    assert "Europe/London" in described and "DigestWorkflow" in described
    subprocess.run([venv_binary("temporal"), "schedule", "trigger", "--schedule-id", SCHEDULE,
                    "--address", address], capture_output=True, text=True, env=env,
                   timeout=60, check=True)

    line = _wait(lambda: next((ln for ln in _mail(env).splitlines()
                               if "Daily digest" in ln), None))
    assert "[CYSCP] Daily digest" in line and "1 case needs attention" in line
    assert "Test Child" not in line
    shown = cli(env, "mail", line.split()[5]).stdout
    assert "To: CYSCP@york.gov.uk" in shown
    assert re.search(r"- york-2026-0301: stage 2, open; .*someone not notified", shown)
    assert "Test Child Gamma" not in shown and "2026-0302" not in shown
    assert re.search(r"/t/[A-Za-z0-9_.-]+/cases", shown)  # the business unit's dashboard
    # Leeds' case needs nobody yet: no digest for Leeds.
    assert not any("[LSCP]" in ln and "digest" in ln.lower() for ln in _mail(env).splitlines())
