"""Personal data never reaches the Temporal server, its database, logs or search attributes in
clear text; the key decrypts it; a rotated key still reads old cases."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.conftest import as_operator, start_worker_process, stop_worker_process
from tests.conftest import cli as _cli

CHILD = "Zebedee Quartermaine"
ADDRESS = "42 Hollyhock Crescent"


def _raise(env: dict[str, str], reference: str) -> None:
    _cli(env, "raise", "--protocol", "swindon", "--reference", reference,
         "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
         "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
         "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
         "--issue", f"Concerns about {CHILD}", "--child-name", CHILD,
         "--child-dob", "2015-04-01", "--child-address", ADDRESS)


def _files_containing(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and "mail" not in path.parts and needle.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_no_personal_data_in_clear_and_rotation(running_worker) -> None:
    env, proc, tmp_path = running_worker
    data = tmp_path / "data"
    _raise(env, "2026-0501")
    _cli(as_operator(env, "Rae Raiser", "rae@school.example", "raising"), "outcome",
         "swindon-2026-0501", "--stage", "1", "--not-resolved",
         "--summary", f"Discussed {CHILD} at length", "--by", "Rae Raiser")
    status = json.loads(_cli(env, "status", "swindon-2026-0501", "--json").stdout)
    assert status["stage"] == "2"

    # Stop the worker (and its dev server) so the SQLite file is complete on disk.
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert (data / "temporal.db").exists()
    assert _files_containing(data, CHILD) == []
    assert _files_containing(data, ADDRESS) == []
    assert CHILD not in (tmp_path / "worker.log").read_text()

    # Rotate the key, restart, and read the old case; new actions use the new key.
    before_rotation = json.loads((data / "keys.json").read_text())
    rotated = _cli(env, "keys", "rotate")
    assert "New active key" in rotated.stdout
    proc2 = start_worker_process(env, tmp_path / "worker2.log")
    try:
        old = json.loads(_cli(env, "status", "swindon-2026-0501", "--json").stdout)
        assert old["stage"] == "2"
        timeline = _cli(env, "timeline", "swindon-2026-0501", "--json").stdout
        assert CHILD in timeline  # decrypted for an authorised user
        _cli(as_operator(env, "Rob Receiver", "rob@csc.example", "receiving"), "outcome",
             "swindon-2026-0501", "--stage", "2", "--resolved", "--summary", "Agreed",
             "--by", "Rob Receiver")
        keys = json.loads((data / "keys.json").read_text())
        old_key = before_rotation["active"]
        assert keys["active"] != old_key and old_key in keys["keys"]  # new key writes, old reads
    finally:
        stop_worker_process(proc2)
    assert _files_containing(data, CHILD) == []
