"""The permission rules as data: every action has one, and each protocol file's rules name
its own stages, duties and roles."""

from __future__ import annotations

from protocols.actions import ACTIONS
from protocols.loader import available_protocols, load_protocol
from protocols.permissions import ACTION_IDS, DEFAULTS, ROLE_KEY


def test_every_action_has_a_default_and_the_ids_match_the_table() -> None:
    assert set(ACTION_IDS) == {a.id for a in ACTIONS}
    assert {r.action for r in DEFAULTS} == set(ACTION_IDS)
    assert all(not r.source for r in DEFAULTS), "a default is never the document's word"


def test_protocol_rules_cite_their_document_and_name_real_stages() -> None:
    for name in available_protocols():
        protocol = load_protocol(name)
        stage_ids = {s.id for s in protocol.stages}
        duties = {d.id for s in protocol.stages for d in s.on_resolution}
        duties |= {d.id for d in protocol.post_resolution}
        for rule in protocol.permissions:
            assert rule.source, f"{name}: {rule.action} names no section of the document"
            assert rule.quote, f"{name}: {rule.action} quotes no words of the document"
            assert set(rule.stages) <= stage_ids, (name, rule)
            for target in rule.of:
                assert target in duties or (ROLE_KEY.fullmatch(target)
                                            and target.rpartition(".")[0] in stage_ids | {""}), (
                    name, rule)
