"""Cases raised before routing variants named their side keep the rules they began with."""

from __future__ import annotations

from protocols.caserecord import role_holder, role_title
from protocols.loader import load_protocol
from protocols.messages import CaseDetails, CaseState, Person
from protocols.schema import ADDED_FIELDS, Protocol, _without_empty_additions


def frozen_dudley() -> Protocol:
    """Dudley's protocol as frozen into a case before the fields added since were recorded
    (each left out, as the content hash leaves out an empty addition)."""
    dumped = load_protocol("dudley").model_dump(mode="json")
    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ADDED_FIELDS}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    protocol = Protocol.model_validate(strip(dumped))
    assert _without_empty_additions(protocol.model_dump(mode="json")) == strip(dumped)
    return protocol


def test_a_variant_chosen_by_id_still_changes_both_sides() -> None:
    protocol = frozen_dudley()
    assert not protocol.holders_carried_forward
    assert all(v.applies_to_kind is None for v in protocol.routing_variants)
    case = CaseDetails(reference="2030-0001", raising=Person(name="Rae"),
                       receiving=Person(name="Rob"), variants=["school"],
                       holders={"2.raising": Person(name="Hattie Head")})
    stage_2, stage_3a = protocol.stage("2"), protocol.stage("3a")
    for stage in (stage_2, stage_3a):
        for side in ("raising", "receiving"):
            assert role_title(protocol, case, stage, side, with_side=False) == (
                "Head teacher / Principal")
    # Nobody was carried forward then: stage 3a's raising role is nobody's until named.
    state = CaseState.model_construct(holders={})
    assert role_holder(protocol, case, state, stage_2, "raising").name == "Hattie Head"
    assert role_holder(protocol, case, state, stage_3a, "raising") is None
