"""Safe defaults (issue 16): with an SMTP server other than the embedded sink, a partnership
address taken from a protocol file is used only once the deployment confirms it
(`resolutions contacts confirm`); until then its mail is held, said so on the case, and the
e-mail tells the raising side to send it themselves. `python worker.py` with a real aiosmtpd
server standing for a relay, the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import MailBox, as_operator, cli, free_port, start_worker_process
from tests.conftest import stop_worker_process as stop

PARTNERSHIP = "safeguardingpartnership@swindon.gov.uk"


@pytest.fixture
def relay_worker(tmp_path: Path, mailbox: tuple[MailBox, int]):
    """The worker with no SMTP sink of its own: mail goes to an SMTP server (aiosmtpd)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONS_",
                                                                     "TEMPORAL_"))}
    env.update({
        "RESOLUTIONS_DATA_DIR": str(tmp_path / "data"),
        "RESOLUTIONS_DEV_SERVER_PORT": str(free_port()),
        "RESOLUTIONS_DEV_SERVER_UI_PORT": str(free_port()),
        "RESOLUTIONS_SMTP_PORT": str(mailbox[1]),
        "RESOLUTIONS_RUN_SMTP_SINK": "false",
        "RESOLUTIONS_WEB_PORT": str(free_port()),
        "RESOLUTIONS_SETTINGS_FILE": str(tmp_path / "none.toml"),
    })
    proc = start_worker_process(env, tmp_path / "worker.log")
    try:
        yield env, mailbox[0]
    finally:
        stop(proc)


def _mail(box: MailBox, event: str, count: int = 1) -> list[EmailMessage]:
    deadline = time.monotonic() + 30
    while len(found := box.for_event(event)) < count:
        assert time.monotonic() < deadline, box.events()
        time.sleep(0.3)
    return found


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


def test_protocol_file_address_is_held_until_confirmed(relay_worker) -> None:
    env, box = relay_worker
    listed = cli(env, "contacts", "list").stdout
    assert "Safeguardingpartnership@swindon.gov.uk  NOT CONFIRMED: mail held" in listed, listed
    cli(env, "raise", "--protocol", "swindon", "--reference", "2026-8201",
        "--raising-name", "Hana Visitor", "--raising-agency", "Health Visiting",
        "--raising-email", "hana@hv.example",
        "--receiving-name", "Carl Social", "--receiving-agency", "CSC",
        "--receiving-email", "carl@csc.example",
        "--holder", "1.receiving=Lina Line <lina@hv.example>")
    hana = as_operator(env, "Hana Visitor", "hana@hv.example", "raising")
    cli(hana, "outcome", "swindon-2026-8201", "--stage", "1", "--not-resolved",
        "--summary", "Line manager agrees to go to the other agency")

    # Stage 2 copies the Partnership on every communication (Swindon s4): held, and said so.
    entered = _mail(box, "stage_entered")[0]
    assert PARTNERSHIP not in entered["X-Envelope-To"].lower()
    text = _text(entered)
    assert "Not sent to Swindon Safeguarding Partnership" in text, text
    assert "send this message to them yourself" in text
    state = json.loads(cli(env, "status", "swindon-2026-8201", "--json").stdout)
    assert any("(not sent: address not confirmed)" in n for n in state["not_notified"])

    # Confirmed by the deployment: the next e-mail goes to the Partnership.
    confirmed = cli(env, "contacts", "confirm", PARTNERSHIP)
    assert "Confirmed" in confirmed.stdout and "Swindon" in confirmed.stdout
    refused = cli(env, "contacts", "confirm", "someone@else.example", ok=False)
    assert refused.returncode == 1 and "not an address any protocol file names" in \
        refused.stderr
    # (Swindon provides no pause: the raiser withdraws, and the closing e-mail is copied.)
    cli(hana, "withdraw", "swindon-2026-8201", "--reason", "The plan was reinstated")
    # (One message per personal link: the Partnership's is its own.)
    deadline = time.monotonic() + 30
    while not [m for m in box.for_event("closed") if PARTNERSHIP in m["X-Envelope-To"].lower()]:
        assert time.monotonic() < deadline, [m["X-Envelope-To"] for m in box.messages]
        time.sleep(0.3)
    assert not [m for m in box.for_event("closed") if "Not sent to" in _text(m)]
