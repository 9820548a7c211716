"""Saved histories replay against today's workflow code.

A change that would break a running case fails here before it ships. To add a history, run the
suite with RESOLUTIONS_RECORD_HISTORIES=1 (see README, "Keeping running cases safe")."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import HISTORY_DIR, test_converter
from workflows.disagreement import DisagreementWorkflow

HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


def test_there_is_a_history_for_every_protocol() -> None:
    protocols = {path.name.split("-")[0] for path in HISTORIES}
    assert {"york", "dudley", "swindon", "leeds", "barnsley"} <= protocols


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[DisagreementWorkflow], data_converter=test_converter())
    await replayer.replay_workflow(history)


def test_saved_histories_hold_no_case_data_in_clear() -> None:
    for path in HISTORIES:
        text = path.read_text()
        for secret in ("Test Child Alpha", "1 Example Road", "Rae Raiser", "Neglect may"):
            assert secret not in text, f"{secret!r} in clear in {path.name}"
