"""The five protocol files: each loads, and each holds the rules of its partnership's document.

The facts asserted here were read from the partnerships' published documents, which the repo
cites but does not hold. Where a rule quotes its document, the quotation is checked to be one of
the protocol's quotations here; ``resolutions protocols verify --documents DIR`` checks every
quotation and digest against the documents themselves (tested below with a document the test
writes, and run by .ci/run against the real ones).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowHistory

from protocols.documents import quotations
from protocols.loader import (
    PROTOCOL_DIR,
    ProtocolError,
    available_protocols,
    load_protocol,
    load_protocol_file,
)
from protocols.messages import CaseInput, NotificationRequest
from protocols.schema import QUOTE_MAX, Duty, Protocol, Sourced, Stage, Timescale
from tests.conftest import HISTORY_DIR, test_converter

NAMES = ["barnsley", "dudley", "leeds", "swindon", "york"]
TOWN = {n: n.capitalize() for n in NAMES}


# -- helpers ------------------------------------------------------------------------------------
def norm(text: str) -> str:
    """Lower case, markdown bold removed, curly quotes straightened, whitespace collapsed."""
    text = text.replace("**", "").replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


def strings(node: object) -> list[str]:
    """Every string value anywhere in a protocol."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, BaseModel):
        return [s for name in type(node).model_fields for s in strings(getattr(node, name))]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list | tuple):
        return [s for v in node for s in strings(v)]
    return []


def sourced_objects(node: object, path: str = "") -> list[tuple[str, Sourced]]:
    found: list[tuple[str, Sourced]] = []
    if isinstance(node, Sourced):
        found.append((path, node))
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            found += sourced_objects(getattr(node, name), f"{path}.{name}")
    elif isinstance(node, dict):
        for k, v in node.items():
            found += sourced_objects(v, f"{path}[{k}]")
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            found += sourced_objects(v, f"{path}[{i}]")
    return found


def deadline(stage: Stage, rule_id: str):
    for d in stage.deadlines:
        if d.id == rule_id:
            return d
    raise AssertionError(f"stage {stage.id} has no deadline '{rule_id}'")


def duties(stage_or_list: Stage | list[Duty], kind: str) -> list[Duty]:
    items = stage_or_list.on_resolution if isinstance(stage_or_list, Stage) else stage_or_list
    return [d for d in items if d.kind == kind]


def is_working_days(t: Timescale | None, n: int) -> bool:
    return t is not None and t.kind == "working_days" and t.amount == n


def at_most_working_days(t: Timescale, n: int) -> bool:
    """A timescale of n working days, or agreed per case within n working days."""
    if t.kind == "working_days":
        return t.amount == n
    return t.kind == "agreed" and t.max_working_days == n


def contact_ids_copied(p: Protocol, stage_id: str) -> set[str]:
    return {c.contact for c in p.copies_for(stage_id)}


# -- every file loads ---------------------------------------------------------------------------
def test_available_protocols_are_the_five() -> None:
    assert available_protocols() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_protocol_file_loads(name: str) -> None:
    p = load_protocol(name)
    assert p.id == name
    assert p.stages
    # Also by explicit path, and by name in another case.
    assert load_protocol_file(PROTOCOL_DIR / f"{name}.toml") == p
    assert load_protocol(name.upper()).id == name
    assert len(p.content_hash()) == 64


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_carries_a_source(name: str) -> None:
    p = load_protocol(name)
    found = sourced_objects(p)
    assert len(found) > 5
    for where, rule in found:
        assert rule.source.strip(), f"{name}{where} has an empty source"
        assert rule.source.startswith(TOWN[name]), f"{name}{where}: {rule.source!r}"
    if p.required_case_fields:
        assert p.required_case_fields_source.strip()


@pytest.mark.parametrize(
    "name, quote",
    [
        ("york", "within the same working day"),
        ("york", "within a further 5 working days or a timescale that protects the child from harm "
                 "(whichever is less)"),
        ("york", "within two working days of resolving the matter"),
        ("york", "within 15 working days of the issue being brought to their attention"),
        ("york", "CYSCP@york.gov.uk"),
        ("york", "begin the resolution process at Stage three Senior Manager level"),
        ("dudley", "Some professional disagreements will need to be resolved immediately, others "
                   "within 24 hours whilst some can be addressed over a longer period of time"),
        ("swindon", "within two working days of the disagreement or concern arising"),
        ("swindon", "within five working days of the completion of Stage 1"),
        ("swindon", "within five working days of the completion of Stage 3"),
        ("swindon", "within five working days of the completion of Stage 4 above using the form "
                    "at Appendix 1"),
        ("swindon", "within one month of the meeting or review"),
        ("swindon", "Safeguardingpartnership@swindon.gov.uk"),
        ("leeds", "Time scales not exceeding 10 working days should be agreed for each stage"),
        ("leeds", "within a further 2 working days"),
        ("leeds", "one month for the overall process to be completed"),
        ("leeds", "lscp.info@leeds.gov.uk"),
        ("leeds", "Feedback should be given at every stage to the practitioner who raised the "
                  "original concern"),
        ("barnsley", "Timely action is paramount"),
        ("barnsley", "with agreement of the professionals and managers involved"),
        ("barnsley", "Quality Assurance and Performance Management Sub-Group"),
    ],
)
def test_quotation_is_cited_as_the_documents_words(name: str, quote: str) -> None:
    # Part of one of the protocol's quotations (a rule's `quote`, or a contact's address), so
    # `protocols verify` checks it against the document.
    quoted = [norm(q.text) for q in quotations(load_protocol(name))]
    assert any(norm(quote) in q for q in quoted), "not among the protocol's quotations"


@pytest.mark.parametrize("name", NAMES)
def test_document_is_cited_by_title_version_date_and_digest(name: str) -> None:
    p = load_protocol(name)
    assert p.document and p.version and p.published
    assert re.fullmatch(r"[0-9a-f]{64}", p.digest)
    assert p.source == ""  # no file path
    assert p.citation == f"{p.document}, {p.partnership}, version {p.version}, {p.published}"
    assert "/" not in p.citation and ".txt" not in p.citation


@pytest.mark.parametrize("name", NAMES)
def test_rules_that_quote_hold_a_short_passage(name: str) -> None:
    p = load_protocol(name)
    quoted = [q for q in quotations(p) if q.where.endswith(".quote")]
    assert len(quoted) >= 4, "each protocol quotes its document"
    for q in quoted:
        assert q.source.startswith(TOWN[name]), q
        assert 3 <= len(q.text.split()) and len(q.text) <= QUOTE_MAX, q
        assert q.text == " ".join(q.text.split()) and "..." not in q.text, q


# -- York ---------------------------------------------------------------------------------------
def test_york() -> None:
    p = load_protocol("york")
    assert [s.id for s in p.stages] == ["1", "2", "3", "4"]
    s1, s2, s3, s4 = p.stages

    assert s1.escalation_deadline is None or s1.escalation_deadline.timescale.kind != "none"
    assert any(d.timescale.kind == "asap" for d in s1.deadlines)  # "as soon as possible"

    # Stage 2: discuss with line managers "within the same working day"; resolve within a
    # further 5 working days (or less); escalate to stage 3 if not resolved.
    assert any(d.timescale.kind == "same_working_day" for d in s2.deadlines)
    resolve = s2.escalation_deadline
    assert resolve is not None
    assert at_most_working_days(resolve.timescale, 5)
    if resolve.timescale.kind == "agreed":
        assert resolve.timescale.default_working_days == 5
    assert "designated safeguarding" in " ".join(s2.advisers).lower()

    # Written confirmation by the receiving manager within 2 working days, at stages 2 and 3.
    for stage in (s2, s3):
        (confirm,) = duties(stage, "written_confirmation")
        assert is_working_days(confirm.timescale, 2)
        assert confirm.clock == "resolution"
        assert "receiving" in confirm.who.lower()
        assert "rais" in confirm.to.lower()

    # Learning points at stage 3 go to the agency's CYSCP representative.
    (learning,) = duties(s3, "learning_referral")
    assert learning.only_with_learning_points
    assert "representative" in p.contacts[learning.to].name.lower()
    assert s3.meeting
    assert {"Head of Service", "Detective Inspector"} <= set(s3.receiving.examples)

    # Stage 4: the Chair via the Business Unit, with a written account; 15 working days.
    assert p.contacts["business_unit"].email == "CYSCP@york.gov.uk"
    (form,) = s4.forms
    assert form.kind == "york_written_account" and form.to == "business_unit"
    assert "business_unit" in contact_ids_copied(p, "4")
    assert "business_unit" not in contact_ids_copied(p, "3")
    chair = [d for d in s4.deadlines if is_working_days(d.timescale, 15)]
    assert len(chair) == 1 and "chair" in chair[0].who.lower()
    assert chair[0].clock == "stage_entry"
    assert "Chair" in s4.receiving.title
    assert s4.escalation_deadline is None

    # Urgent cases may begin at stage 3; immediate risk: timescales become a guide.
    assert p.urgent_entry is not None and p.urgent_entry.stage == "3"
    assert p.bypass.allowed and p.bypass.urgent_only
    assert p.immediate_risk.timescales_become_guide
    route = " ".join(p.immediate_risk.route).lower()
    assert "manager" in route and "safeguarding lead" in route
    assert "police" in route and "children's social care" in route

    # Before stage 1: issue, risk to the child, nature of the disagreement, aim.
    assert set(p.required_case_fields) == {"issue", "risk_to_child", "nature", "aim"}
    assert p.required_case_fields_source


# -- Dudley -------------------------------------------------------------------------------------
def test_dudley() -> None:
    p = load_protocol("dudley")
    assert [s.id for s in p.stages] == ["1", "2", "3a", "3b", "chair"]
    *ladder, chair = p.stages

    # Timescales are agreed per case: immediately, within 24 hours, or over a longer period.
    # At 3b passing it reminds: the Independent Chair is "in exceptional circumstances" (s4
    # Stage 3b), a decision offered by "not resolved", never automatic.
    for stage in ladder:
        rule = stage.escalation_deadline if stage.id != "3b" else stage.deadlines[0]
        assert rule is not None, stage.id
        assert (rule.on_expiry == "remind") == (stage.id == "3b")
        assert rule.timescale.kind == "agreed"
        assert not rule.timescale.fixed  # the document sets no number of days
        options = " ".join(rule.timescale.options).lower()
        assert "immediately" in options and "24 hours" in options

    (referral,) = p.referrals
    assert (referral.from_stages, referral.to, referral.on_not_resolved) == (["3b"], "chair",
                                                                             True)
    assert p.referral_on_not_resolved("3b") is referral

    # Outcome in writing to the complainant agency at stages 1 and 2.
    for stage in ladder[:2]:
        (confirm,) = duties(stage, "written_confirmation")
        assert "complainant" in confirm.what.lower()

    # Head of Safeguarding copied in from stage 3a (and not before).
    assert "Head of Safeguarding" in p.contacts["head_of_safeguarding"].name
    assert "Dudley MBC" in p.contacts["head_of_safeguarding"].name
    for stage_id in ("3a", "3b", "chair"):
        assert "head_of_safeguarding" in contact_ids_copied(p, stage_id)
    for stage_id in ("1", "2"):
        assert "head_of_safeguarding" not in contact_ids_copied(p, stage_id)

    # Schools: Head teacher / Principal; self-employed: safeguarding lead; at stages 2 and 3.
    variants = {v.id: v for v in p.routing_variants}
    assert "Head teacher" in variants["school"].role and "Principal" in variants["school"].role
    assert "safeguarding lead" in variants["self_employed"].role.lower()
    for v in (variants["school"], variants["self_employed"]):
        assert {"2", "3a"} <= set(v.stages) <= {"2", "3a", "3b"}

    # 3a: service/senior managers meet; 3b: Directors write and meet for a final resolution.
    assert p.stage("3a").meeting and p.stage("3b").meeting
    assert "Detective Chief Inspector" in p.stage("3a").raising.examples
    assert "Director" in p.stage("3b").raising.title

    # Exceptional: the DSCB Independent Chair.
    assert chair.exceptional and "Independent Chair" in chair.receiving.title

    # Afterwards: debrief; policy gaps to the Chair of the DSCB.
    assert duties(p.post_resolution, "debrief")
    gaps = [d for d in p.post_resolution if d.kind == "learning_referral"]
    assert len(gaps) == 1 and "polic" in gaps[0].what.lower()
    assert "Chair" in p.contacts[gaps[0].to].name
    assert "Dudley" in p.contacts[gaps[0].to].name
    assert p.feedback_to_raiser_every_stage is not None


# -- Swindon ------------------------------------------------------------------------------------
def test_swindon() -> None:
    p = load_protocol("swindon")
    assert [s.id for s in p.stages] == ["1", "2", "3", "4", "5", "panel"]

    expected = {
        "1": (2, "concern_arose"),
        "2": (5, "previous_stage_completion"),
        "3": (5, "previous_stage_completion"),
        "4": (5, "previous_stage_completion"),
        "5": (5, "previous_stage_completion"),
    }
    for stage_id, (days, clock) in expected.items():
        # The ladder, and (stages 1-4) the contact deadline a recorded contact meets.
        rules = [d for d in p.stage(stage_id).deadlines if is_working_days(d.timescale, days)]
        assert len(rules) == (1 if stage_id == "5" else 2), stage_id
        assert {r.clock for r in rules} == {clock}, stage_id
        assert [r.met_by_discussion for r in rules] == ([False] if stage_id == "5"
                                                        else [False, True]), stage_id
    # Stages 1-4 escalate on expiry; stage 4 ends on "Day 17" (2 + 5 + 5 + 5).
    day = 0
    for stage_id in ("1", "2", "3", "4"):
        rule = p.stage(stage_id).escalation_deadline
        assert rule is not None, stage_id
        day += rule.timescale.amount or 0
    assert day == 17

    # The Partnership is copied into every communication from stage 2 onwards.
    assert p.contacts["partnership"].email == "Safeguardingpartnership@swindon.gov.uk"
    assert "partnership" not in contact_ids_copied(p, "1")
    for stage_id in ("2", "3", "4", "5", "panel"):
        assert "partnership" in contact_ids_copied(p, stage_id)
    (copy,) = [c for c in p.copies if c.contact == "partnership"]
    assert copy.scope == "every_communication" and copy.from_stage == "2"

    # Stage 5: the Appendix 1 Resolution Form to the Partnership; learning within one month.
    s5 = p.stage("5")
    (form,) = s5.forms
    assert form.kind == "swindon_appendix_1" and form.to == "partnership"
    assert "Strategic Safeguarding Partnership Manager" in s5.receiving.title
    (learning,) = duties(s5, "learning_dissemination")
    assert learning.timescale is not None
    assert learning.timescale.kind == "calendar_months" and learning.timescale.amount == 1
    assert learning.clock == "resolution"

    panel = p.stage("panel")
    assert panel.exceptional and panel.meeting
    assert "chair" in panel.receiving.title.lower()

    # A disagreement about a child protection conference decision: dissent process first.
    (pre,) = p.preconditions
    assert "conference" in pre.applies_to_category
    assert "dissent" in pre.requirement.lower() and "exhausted" in pre.requirement.lower()

    # Immediate risk: same working day, through MASH; Partnership told at once.
    route = " ".join(p.immediate_risk.route)
    assert "MASH" in route
    assert "partnership" in p.immediate_risk.notify_contacts
    assert "same working day" in p.immediate_risk.instruction.lower()

    assert duties(p.post_resolution, "debrief")
    assert any(d.to == "partnership" for d in duties(p.post_resolution, "learning_referral"))
    guidance = {g.id: g.text.lower() for g in p.guidance}
    assert "log" in guidance["agency_log"] and "start date" in guidance["agency_log"]


# -- Leeds --------------------------------------------------------------------------------------
def test_leeds() -> None:
    p = load_protocol("leeds")
    assert [s.id for s in p.stages] == ["1", "2", "3a", "3b", "4"]

    # Timescales not exceeding 10 working days are agreed for each stage.
    for stage_id in ("1", "2", "3a", "3b"):
        rule = p.stage(stage_id).escalation_deadline
        assert rule is not None, stage_id
        assert rule.timescale.kind == "agreed", stage_id
        assert rule.timescale.max_working_days is not None
        assert rule.timescale.max_working_days <= 10, stage_id
        default = rule.timescale.default_working_days
        assert default is None or default <= 10

    # 3b: Heads of Service raise it at Director level within a further 2 working days.
    s3b = p.stage("3b")
    assert any(is_working_days(d.timescale, 2) for d in s3b.deadlines)
    assert s3b.meeting

    # The LSCP is notified with the Appendix 3 form at 3a, 3b and 4 (not before).
    assert p.contacts["lscp"].email == "lscp.info@leeds.gov.uk"
    for stage_id in ("3a", "3b", "4"):
        forms = p.stage(stage_id).forms
        assert [f.kind for f in forms] == ["leeds_appendix_3"], stage_id
        assert forms[0].to == "lscp"
        assert "lscp" in contact_ids_copied(p, stage_id)
        assert any(c.attach == "leeds_appendix_3" for c in p.copies_for(stage_id))
    for stage_id in ("1", "2"):
        assert "lscp" not in contact_ids_copied(p, stage_id)
        assert not p.stage(stage_id).forms

    # One month for the overall process "where possible" (s3 Step 2 para 2): passing it is
    # recorded as a breach and the LSCP told; it does not send the case to stage 4.
    limit = p.overall_limit
    assert limit is not None
    assert limit.timescale.kind == "calendar_months" and limit.timescale.amount == 1
    assert limit.clock == "concern_arose"
    assert limit.records_breach and limit.escalate_to is None
    assert limit.breach_told == ["lscp"]
    assert limit.quote.startswith("Where possible")
    assert p.stage("4").exceptional
    assert "Chair" in p.stage("4").receiving.title

    # No line manager: professional bodies, funders, commissioners or trustees.
    (variant,) = p.routing_variants
    assert "2" in variant.stages
    role = variant.role.lower()
    for who in ("professional bod", "funder", "commissioner", "trustee"):
        assert who in role
    assert "self-employed" in variant.when.lower()

    # Feedback to the practitioner who raised it, at every stage.
    assert p.feedback_to_raiser_every_stage is not None
    assert "every stage" in p.feedback_to_raiser_every_stage.text.lower()

    # Urgent / immediate: straight to Head of Service level (3a).
    assert p.urgent_entry is not None and p.urgent_entry.stage == "3a"
    assert p.immediate_risk.entry_stage == "3a"
    assert "Duty and Advice" in " ".join(p.immediate_risk.route)
    assert "0113 3760336" in p.contacts["duty_and_advice"].phone


# -- Barnsley -----------------------------------------------------------------------------------
def test_barnsley() -> None:
    p = load_protocol("barnsley")
    assert [s.id for s in p.stages] == ["1", "2", "3", "4"]

    # No timescales at all ("Timely action is paramount").
    for stage in p.stages:
        assert stage.escalation_deadline is None, stage.id
        for rule in stage.deadlines:
            assert rule.timescale.kind == "none", (stage.id, rule.id)
            assert not rule.timescale.fixed
        for duty in stage.on_resolution:
            assert duty.timescale is None or not duty.timescale.fixed
    assert p.overall_limit is None
    for duty in p.post_resolution:
        assert duty.timescale is None

    # Steps can be bypassed with the agreement of the professionals and managers involved.
    assert p.bypass.allowed and not p.bypass.urgent_only
    assert {"professionals", "managers"} <= set(p.bypass.requires_agreement_of)

    # General principles to the QAPM sub-group; debrief; written confirmation.
    (learning,) = duties(p.post_resolution, "learning_referral")
    assert "Quality Assurance and Performance Management" in p.contacts[learning.to].name
    assert duties(p.post_resolution, "debrief")
    assert duties(p.post_resolution, "written_confirmation")

    assert "Head of Safeguarding" in p.stage("4").receiving.title
    assert "Service Manager" in p.stage("3").receiving.title
    route = " ".join(p.immediate_risk.route)
    assert "Head of Children's Social Care" in route and "Head of Safeguarding" in route


# -- broken files -------------------------------------------------------------------------------
# A document of the test's own, and a small protocol citing and quoting it.
DOCUMENT = """Mini Partnership

MINI   PROTOCOL

Version 1, 1 March 2026

1. If a child is at immediate risk, call the police.
2. The practitioners resolve the disagreement within five
   working days.
3. Otherwise the managers meet. Write to the Board at board@mini.example.
"""
DIGEST = hashlib.sha256(DOCUMENT.encode()).hexdigest()  # what `sha256sum` prints

MINIMAL = """
id = "mini"
partnership = "Mini Partnership"
short_name = "MP"
document = "Mini protocol"
version = "1"
published = "1 March 2026"
digest = "@DIGEST@"

[contacts.board]
name = "The Board"
email = "board@mini.example"

[reminders]
source = "Mini s1"

[immediate_risk]
route = ["Police"]
instruction = "Call the police"
quote = "If a child is at immediate risk, call the police"
source = "Mini s1"

[bypass]
allowed = false
text = "not set by the document: no bypass"
source = "Mini s1"

[[stages]]
id = "1"
name = "First"
summary = "The first stage"
source = "Mini s2"
raising = { title = "A", held_by = "practitioner" }
receiving = { title = "B", held_by = "practitioner" }

  [[stages.deadlines]]
  id = "resolve"
  what = "Resolve it"
  who = "Both"
  timescale = { kind = "working_days", amount = 5 }
  on_expiry = "escalate"
  quote = "resolve the disagreement within five working days"
  source = "Mini s2"

[[stages]]
id = "2"
name = "Second"
summary = "The second stage"
source = "Mini s3"
raising = { title = "C", held_by = "manager" }
receiving = { title = "D", held_by = "manager" }

[[copies]]
contact = "board"
scope = "every_communication"
from_stage = "2"
source = "Mini s4"
""".replace("@DIGEST@", DIGEST)


def write(tmp_path: Path, text: str, name: str = "broken.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def load_error(path: Path) -> str:
    with pytest.raises(ProtocolError) as err:
        load_protocol_file(path)
    return str(err.value)


def test_minimal_file_is_valid(tmp_path: Path) -> None:
    p = load_protocol_file(write(tmp_path, MINIMAL, "mini.toml"))
    assert [s.id for s in p.stages] == ["1", "2"]
    # load_protocol also takes a path to a .toml file.
    assert load_protocol(str(tmp_path / "mini.toml")).id == "mini"


def test_bad_toml_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'short_name = "MP"', 'short_name = "MP'))
    message = load_error(path)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line 4" in message  # MINIMAL begins with a blank line


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'name = "Second"\n', ""))
    message = load_error(path)
    assert str(path) in message
    assert 'stages[1] (id "2").name' in message
    assert "Field required" in message


def test_missing_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'partnership = "Mini Partnership"\n', ""))
    message = load_error(path)
    assert str(path) in message
    assert "partnership" in message and "Field required" in message


def test_unknown_field_typo(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'who = "Both"', 'who = "Both"\n  on_expiri = "x"'))
    message = load_error(path)
    assert str(path) in message
    assert 'stages[0] (id "1").deadlines[0] (id "resolve").on_expiri' in message
    assert "unknown field" in message and "spelling" in message


def test_working_days_without_amount(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        replace_once(MINIMAL, '{ kind = "working_days", amount = 5 }', '{ kind = "working_days" }'),
    )
    message = load_error(path)
    assert str(path) in message
    assert 'stages[0] (id "1").deadlines[0] (id "resolve").timescale' in message
    assert "'amount' is required when kind is 'working_days'" in message


def test_copy_rule_naming_unknown_stage(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'from_stage = "2"', 'from_stage = "9"'))
    message = load_error(path)
    assert str(path) in message
    assert "copies[0].from_stage" in message
    assert "'9'" in message and "not one of" in message


def test_copy_rule_naming_unknown_contact(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'contact = "board"', 'contact = "bored"'))
    message = load_error(path)
    assert str(path) in message
    assert "copies[0].contact" in message and "'bored'" in message


def test_duplicate_stage_ids(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'id = "2"', 'id = "1"'))
    message = load_error(path)
    assert str(path) in message
    assert "stage ids must be unique" in message
    assert "'1', '1'" in message


def test_last_stage_escalating(tmp_path: Path) -> None:
    escalating = """receiving = { title = "D", held_by = "manager" }

  [[stages.deadlines]]
  id = "resolve"
  what = "Resolve it"
  who = "Both"
  timescale = { kind = "working_days", amount = 5 }
  on_expiry = "escalate"
  source = "Mini s3"
"""
    last = 'receiving = { title = "D", held_by = "manager" }\n'
    path = write(tmp_path, replace_once(MINIMAL, last, escalating))
    message = load_error(path)
    assert str(path) in message
    assert "last stage '2'" in message
    assert "escalate" in message


def test_escalating_deadline_without_timescale(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, '{ kind = "working_days", amount = 5 }',
                                        '{ kind = "asap" }'))
    message = load_error(path)
    assert str(path) in message
    assert "stage 1 deadline 'resolve'" in message and "no timescale" in message


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    message = load_error(path)
    assert str(path) in message and "cannot read" in message


@pytest.mark.parametrize("name", ["yrok", "glasgow", "../york", ""])
def test_unknown_protocol_lists_known_ones(name: str) -> None:
    with pytest.raises(ProtocolError) as err:
        load_protocol(name)
    message = str(err.value)
    assert f"unknown protocol '{name}'" in message
    assert "barnsley, dudley, leeds, swindon, york" in message


def test_a_file_citing_its_document_by_path_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, replace_once(MINIMAL, 'version = "1"\n',
                                        'version = "1"\nsource = "docs/mini.txt"\n'))
    message = load_error(path)
    assert str(path) in message and "source" in message and "not by a file path" in message


def test_a_file_without_digest_or_date_is_refused(tmp_path: Path) -> None:
    text = replace_once(MINIMAL, f'digest = "{DIGEST}"\n', "")
    message = load_error(write(tmp_path, replace_once(text, 'published = "1 March 2026"\n', "")))
    assert "published, digest: required" in message and "sha256sum" in message
    bad = write(tmp_path, replace_once(MINIMAL, DIGEST, "abc123"), "bad-digest.toml")
    assert "digest:" in load_error(bad)


@pytest.mark.parametrize("quote", ["call the ... police", " call the police", "a\\nb", "ab"])
def test_a_malformed_quotation_is_refused(tmp_path: Path, quote: str) -> None:
    path = write(tmp_path, replace_once(
        MINIMAL, 'quote = "If a child is at immediate risk, call the police"',
        f'quote = "{quote}"'))
    message = load_error(path)
    assert "immediate_risk.quote" in message and "one unbroken passage" in message


# -- protocols frozen into running cases before documents were cited by title ------------------
def frozen_inputs() -> list[tuple[str, CaseInput]]:
    """The protocol frozen into each saved history's workflow input, decoded as the worker
    decodes it: only the histories recorded before protocols cited their documents by title
    (histories recorded since freeze today's shape)."""
    found = []
    for path in sorted(HISTORY_DIR.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        started = history.events[0].workflow_execution_started_event_attributes
        (inp,) = asyncio.run(test_converter().decode(started.input.payloads, [CaseInput]))
        if not inp.protocol.digest:
            found.append((path.stem, inp))
    return found


def test_frozen_protocols_of_older_cases_still_load_and_keep_their_hash() -> None:
    frozen = frozen_inputs()
    # Histories recorded since (under the permission rules) freeze today's shape.
    older = [(name, inp) for name, inp in frozen if not inp.protocol.digest]
    assert len(older) >= 5
    for name, inp in frozen:
        p = inp.protocol
        if (name, inp) in older:
            # The old shape: a path in `source`, no date, digest or quotations.
            assert p.source.endswith(".txt") and p.published == "", name
            assert not [q for q in quotations(p) if q.where.endswith(".quote")], name
        # Read exactly as it was frozen: the content hash it was frozen with still matches.
        assert p.content_hash() == inp.protocol_hash, name
        # What people see names the document by title and version, never the path.
        assert p.citation.startswith(f"{p.document}, {p.partnership}, version "), name
        assert "/" not in p.citation and not (p.source and p.source in p.citation), name


def test_frozen_protocols_imply_who_holds_roles_and_which_duties_keep_a_case_open() -> None:
    """Protocols frozen before roles said who holds them, and duties whether they keep a case
    open, read as the code read them then: the files now say the same of every such case."""
    for name, inp in frozen_inputs():
        frozen, now = inp.protocol, load_protocol(inp.protocol.id)
        for old, new in zip(frozen.stages, now.stages, strict=True):
            for side in ("raising", "receiving"):
                role = getattr(old, side)
                assert role.held_by is None, name
                practitioners = getattr(new, side).held_by == "practitioner"
                assert (role.holder_kind == "practitioner") == practitioners, (name, old.id)
        for old_v in frozen.routing_variants:
            # Frozen before variants named their side's kind of agency: chosen by id, as then.
            assert old_v.held_by is None and old_v.applies_to_kind is None, name
        assert not frozen.holders_carried_forward, name
        duties = [*frozen.post_resolution, *(d for s in frozen.stages for d in s.on_resolution)]
        news = {d.id: d for d in [*now.post_resolution,
                                  *(d for s in now.stages for d in s.on_resolution)]}
        for duty in duties:
            assert duty.awaited is None, name
            assert duty.keeps_case_open == news[duty.id].awaited, (name, duty.id)


def test_a_file_must_say_who_holds_each_role_and_which_duties_keep_a_case_open(
        tmp_path: Path) -> None:
    text = replace_once(MINIMAL, ', held_by = "manager" }\n\n[[copies]]', ' }\n\n[[copies]]')
    message = load_error(write(tmp_path, text))
    assert 'stages (id "2").receiving.held_by' in message and "required" in message
    assert "practitioner, manager, head, director, partnership, external" in message
    duty = """[[post_resolution]]
id = "confirm"
kind = "written_confirmation"
what = "Confirm in writing"
who = "Both"
source = "Mini s4"
"""
    message = load_error(write(tmp_path, MINIMAL + duty, "duty.toml"))
    assert 'duty "confirm".awaited' in message
    assert load_protocol_file(write(tmp_path, MINIMAL + duty + "awaited = true\n", "ok.toml")
                              ).post_resolution[0].keeps_case_open


# -- resolutions protocols verify ---------------------------------------------------------------
def resolutions(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script, as a person runs it."""
    script = Path(sys.executable).with_name("resolutions")
    assert script.is_file(), "the resolutions console script must be installed (./dev setup)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONS_")}
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def documents_folder(tmp_path: Path, document: str = DOCUMENT) -> Path:
    """A folder of published documents: ours under a name that says nothing, and another."""
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "download (3).txt").write_bytes(document.encode())
    (folder / "other.txt").write_text("Another partnership's guidance on something else.\n")
    return folder


def verify(tmp_path: Path, folder: Path, protocol: str = MINIMAL):
    write(tmp_path, protocol, "mini.toml")
    return resolutions("protocols", "verify", "--documents", str(folder), "mini.toml",
                       cwd=tmp_path)


def test_verify_passes_when_the_document_says_what_the_protocol_quotes(tmp_path: Path) -> None:
    done = verify(tmp_path, documents_folder(tmp_path))
    assert done.returncode == 0, done.stderr
    first, last = done.stdout.splitlines()
    assert first.startswith("mini") and " OK " in first
    assert "Mini protocol, Mini Partnership, version 1, 1 March 2026" in first
    assert "download (3).txt (matched by digest); digest and 3 quotations match" in first
    assert last == "1 protocol checked against 2 documents: 1 OK, 0 not matching"


def test_verify_names_each_rule_the_changed_document_no_longer_says(tmp_path: Path) -> None:
    changed = DOCUMENT.replace("within five", "within ten")
    done = verify(tmp_path, documents_folder(tmp_path, changed))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("mini") and "MISMATCH" in lines[0]
    assert "download (3).txt (matched by title)" in lines[0]
    new_digest = hashlib.sha256(changed.encode()).hexdigest()
    assert lines[1].strip() == (f"digest: the protocol names {DIGEST}, "
                                f"the document's is {new_digest}")
    assert lines[2].strip() == ('stages[0] (stage 1).deadlines[0] (resolve).quote [Mini s2]: '
                                'not in the document: "resolve the disagreement within five '
                                'working days"')
    assert lines[3] == "1 protocol checked against 2 documents: 0 OK, 1 not matching"


def test_verify_catches_a_quotation_changed_in_the_protocol(tmp_path: Path) -> None:
    tampered = replace_once(MINIMAL, "call the police", "call the fire brigade")
    tampered = replace_once(tampered, 'email = "board@mini.example"', 'email = "b@mini.example"')
    done = verify(tmp_path, documents_folder(tmp_path), tampered)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "(matched by digest)" in lines[0] and "MISMATCH" in lines[0]
    assert lines[1].strip() == ('contacts.board.email [contact]: not in the document: '
                                '"b@mini.example"')
    assert lines[2].strip() == ('immediate_risk.quote [Mini s1]: not in the document: '
                                '"If a child is at immediate risk, call the fire brigade"')
    assert not any("digest:" in line for line in lines)


def test_verify_without_the_document(tmp_path: Path) -> None:
    folder = documents_folder(tmp_path)
    (folder / "download (3).txt").unlink()
    done = verify(tmp_path, folder)
    assert done.returncode == 1
    assert ("MISMATCH  Mini protocol, Mini Partnership, version 1, 1 March 2026: no document has "
            "its digest or holds its title 'Mini protocol'") in done.stdout
    # With no protocol named, every built-in protocol is checked.
    done = resolutions("protocols", "verify", "--documents", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert [line.split()[:2] for line in done.stdout.splitlines()[:-1]] == [
        [name, "MISMATCH"] for name in NAMES]
    assert done.stdout.splitlines()[-1].endswith("0 OK, 5 not matching")


def test_verify_picks_the_document_naming_the_partnership(tmp_path: Path) -> None:
    folder = documents_folder(tmp_path)
    (folder / "other.txt").write_text("Another Partnership: Mini protocol (a response).\n")
    done = verify(tmp_path, folder, replace_once(MINIMAL, DIGEST, "0" * 64))
    assert "download (3).txt (matched by title)" in done.stdout
    (folder / "other.txt").write_text("Mini Partnership: Mini protocol (a response).\n")
    done = verify(tmp_path, folder, replace_once(MINIMAL, DIGEST, "0" * 64))
    assert done.returncode == 1
    assert ("several documents hold the title 'Mini protocol': download (3).txt, other.txt"
            in done.stdout)


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "nowhere", "does not exist"),
    (lambda d: write(d, "not a folder", "file.txt"), "is not a folder"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no documents"),
])
def test_verify_refuses_a_folder_it_cannot_use(tmp_path: Path, make, problem: str) -> None:
    folder = make(tmp_path)
    done = resolutions("protocols", "verify", "--documents", str(folder), cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"error: documents folder {folder} {problem}\n"


def test_deadlines_recorded_before_they_carried_a_timescale_kind_read_it_from_their_words(
        ) -> None:
    """E-mail requests in the saved histories carry deadlines without ``timescale_kind``: each
    decodes, with the kind of the rule it was made from."""
    seen = 0
    legacy = {name for name, _ in frozen_inputs()}
    for path in sorted(HISTORY_DIR.glob("*.json")):
        if path.stem not in legacy:
            continue  # recorded since deadlines carry their kind
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        started = history.events[0].workflow_execution_started_event_attributes
        (inp,) = asyncio.run(test_converter().decode(started.input.payloads, [CaseInput]))
        p = inp.protocol
        kinds = {"overall": p.overall_limit.timescale.kind if p.overall_limit else None}
        for stage in p.stages:
            kinds |= {f"{stage.id}/{r.id}": r.timescale.kind for r in stage.deadlines}
            for duty in [*stage.on_resolution, *p.post_resolution]:
                kinds[f"duty/{stage.id}/{duty.id}"] = (duty.timescale.kind if duty.timescale
                                                       else "none")
        for event in history.events:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name != "send_notification":
                continue
            (raw,) = asyncio.run(test_converter().decode(scheduled.input.payloads, [dict]))
            assert all("timescale_kind" not in d for d in raw["state"]["deadlines"])
            (req,) = asyncio.run(test_converter().decode(scheduled.input.payloads,
                                                         [NotificationRequest]))
            for d in req.state.deadlines:
                assert d.timescale_kind == kinds[d.key], (path.stem, d.key, d.timescale)
                seen += 1
    assert seen > 50
