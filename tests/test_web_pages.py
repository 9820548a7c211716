"""Fast checks of the web forms with FastAPI's TestClient: links, access, CSRF, escaping.

Temporal is replaced here by a small in-memory stand-in answering the two queries and the
update (the browser tests in test_web.py use the real server and worker).
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import RPCError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCStatusCode

from protocols.loader import load_protocol
from protocols.messages import ActionResult, CaseState, DeadlineState, Person, TimelineEvent
from protocols.settings import Settings
from starter.web.actions import ACTIONS
from starter.web.app import GOVUK_DIST, create_app
from starter.web.csrf import FIELD, SESSION_COOKIE
from starter.web.links import Grant, LinkError, Links, link_builder_from_settings, link_secret
from starter.web.roles import ROLES_ENV, RolesError, load_roles
from workflows.disagreement import DisagreementWorkflow

WID = "york-2026-0001"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


def _state(status: str = "open") -> CaseState:
    york = load_protocol("york")
    return CaseState(
        workflow_id=WID, reference="2026-0001", protocol="york",
        protocol_hash=york.content_hash(), partnership=york.partnership, status=status,
        urgency="standard", stage="1", stage_name=york.stages[0].name, stage_entered_at=NOW,
        stages_visited=["1"],
        deadlines=[DeadlineState(key="1/asap", kind="stage", stage="1", rule="asap",
                                 what="Discuss the disagreement", who="Practitioners",
                                 timescale="as soon as possible", on_expiry="remind",
                                 source="York s5 Stage 1", clock_start=NOW,
                                 due=NOW + timedelta(days=2))],
        expected_next=["Record the outcome of stage 1"],
        holders={"raising": Person(name="Rae Raiser", agency="School"),
                 "receiving": Person(name="Rob Receiver", agency="CSC")})


class FakeHandle:
    def __init__(self, temporal: FakeTemporal, wid: str) -> None:
        self.temporal, self.wid = temporal, wid

    async def query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.wid not in self.temporal.states:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        if fn is DisagreementWorkflow.state:
            return self.temporal.states[self.wid]
        return self.temporal.timelines.get(self.wid, [])

    async def execute_update(self, name: str, msg: Any, **kwargs: Any) -> ActionResult:
        self.temporal.updates.append((self.wid, name, msg))
        if self.temporal.reject:
            raise WorkflowUpdateFailedError(ApplicationError(self.temporal.reject))
        return ActionResult(message="Not resolved; the case moved to stage 2.",
                            state=self.temporal.states[self.wid])


class FakeTemporal:
    """Answers the case queries and records updates, like a worker would."""

    def __init__(self) -> None:
        self.states = {WID: _state()}
        self.timelines = {WID: [TimelineEvent(seq=1, at=NOW, kind="outcome_recorded",
                                              stage="1", actor="Rob Receiver",
                                              summary=f"Stage 1 not resolved: {HOSTILE}",
                                              via="update")]}
        self.updates: list[tuple[str, str, Any]] = []
        self.reject = ""

    def get_workflow_handle(self, wid: str) -> FakeHandle:
        return FakeHandle(self, wid)


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, link_secret="fast-test-secret",
                    public_url="http://testserver")


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def browser(web_settings: Settings, temporal: FakeTemporal) -> TestClient:
    return TestClient(create_app(web_settings, temporal), follow_redirects=False)  # type: ignore[arg-type]


def _path(links: Links, grant: Grant) -> str:
    return "/t/" + links.token(grant)


def _case_grant(links: Links, name: str = "Rob Receiver", wid: str = WID) -> Grant:
    return links.for_case(wid, Person(name=name, email="rob@csc.example",
                                      role="Social worker"), "receiving")


def _csrf(page_html: str) -> str:
    match = re.search(rf'name="{FIELD}" value="([^"]+)"', page_html)
    assert match, "no CSRF field on the form"
    return match[1]


# -- links ------------------------------------------------------------------------------------
def test_link_round_trip_tamper_and_expiry(web_settings: Settings) -> None:
    links = Links(web_settings)
    grant = _case_grant(links)
    assert links.read(links.token(grant)) == grant
    payload, mac = links.token(grant).split(".")
    forged = json.loads(__import__("base64").urlsafe_b64decode(payload + "=="))
    forged["w"] = "york-2026-0002"
    body = __import__("base64").urlsafe_b64encode(json.dumps(forged).encode()).decode()
    for bad in (f"{body.rstrip('=')}.{mac}", payload + "." + mac[:-2] + "AA", "x", ""):
        with pytest.raises(LinkError) as err:
            links.read(bad)
        assert err.value.kind == "invalid"
    other = Links(web_settings.model_copy(update={"link_secret": "another-secret"}))
    with pytest.raises(LinkError):
        other.read(links.token(grant))
    old = Grant(name="A", email="a@b.example", role="manager", workflow_id=WID,
                expires=int(time.time()) - 1)
    with pytest.raises(LinkError) as err:
        links.read(links.token(old))
    assert err.value.kind == "expired"


def test_link_builder_roles_and_generated_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_url="https://forms.example/")
    secret = link_secret(settings)
    path = tmp_path / "data" / "link_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert link_secret(settings) == secret  # made once, then reused
    build = link_builder_from_settings(settings)
    links = Links(settings)
    for key, role in [("raising", "practitioner"), ("1.receiving", "practitioner"),
                      ("2.raising", "manager"), ("contact:business_unit", "business_unit")]:
        url = build(WID, Person(name="P", email="p@x.example"), key)
        assert url.startswith("https://forms.example/t/")
        grant = links.read(url.rsplit("/", 1)[1])
        assert (grant.role, grant.role_key, grant.workflow_id) == (role, key, WID)
    assert "p@x.example" not in url and WID not in url.split("/t/")[0]


def test_roles_file_and_variable(web_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
    (tmp_path / "roles.toml").write_text(
        '["CYSCP@york.gov.uk"]\nrole = "business_unit"\nprotocols = ["york"]\n')
    monkeypatch.setenv(ROLES_ENV, json.dumps({"audit@x.example": {"role": "auditor"}}))
    roles = load_roles(web_settings)
    assert roles["cyscp@york.gov.uk"].covers("york")
    assert not roles["cyscp@york.gov.uk"].covers("leeds")
    assert roles["audit@x.example"].covers("leeds")
    monkeypatch.setenv(ROLES_ENV, json.dumps({"x@x.example": {"role": "king"}}))
    with pytest.raises(RolesError, match="needs role"):
        load_roles(web_settings)


# -- pages ------------------------------------------------------------------------------------
def test_tampered_expired_and_unknown_pages_are_clear(browser: TestClient,
                                                      web_settings: Settings) -> None:
    links = Links(web_settings)
    token = links.token(_case_grant(links))
    page = browser.get(f"/t/{token[:-3]}abc/cases/{WID}")
    assert page.status_code == 403 and "This link is not valid" in page.text
    assert "Traceback" not in page.text and "govuk-heading-l" in page.text
    old = Grant(name="A", email="a@b.example", role="manager", workflow_id=WID,
                expires=int(time.time()) - 5)
    page = browser.get(_path(links, old))
    assert page.status_code == 410 and "This link has expired" in page.text
    assert browser.get("/nowhere").status_code == 404
    assert "Page not found" in browser.get("/nowhere").text


def test_case_page_escapes_and_keeps_child_out_of_title(browser: TestClient,
                                                        web_settings: Settings) -> None:
    links = Links(web_settings)
    base = _path(links, _case_grant(links))
    landing = browser.get(base)
    assert landing.status_code == 303 and landing.headers["location"] == f"{base}/cases/{WID}"
    page = browser.get(f"{base}/cases/{WID}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert HOSTILE not in page.text
    title = re.search(r"<title>(.*?)</title>", page.text, re.S)[1]  # type: ignore[index]
    assert title.strip() == f"Case {WID} – Professional Resolutions"
    assert "Content-Security-Policy" in page.headers and page.headers["Cache-Control"] == "no-store"
    assert 'href="' + base + f"/cases/{WID}/outcome" in page.text
    other = browser.get(f"{base}/cases/york-2026-0002")
    assert other.status_code == 403 and "different case" in other.text


def test_csrf_required_and_actor_from_link(browser: TestClient, temporal: FakeTemporal,
                                           web_settings: Settings) -> None:
    links = Links(web_settings)
    url = f"{_path(links, _case_grant(links))}/cases/{WID}/outcome"
    form = {"stage": "1", "resolved": "no", "summary": "No agreement", "by": "Mallory",
            "by.name": "Mallory"}
    fresh = TestClient(browser.app, follow_redirects=False)
    refused = fresh.post(url, data=form)  # no cookie, no token
    assert refused.status_code == 403 and "Your form could not be accepted" in refused.text
    token = _csrf(browser.get(url).text)
    refused = browser.post(url, data={**form, FIELD: token[:-4] + "0000"})
    assert refused.status_code == 403 and "out of date" in refused.text
    refused = browser.post(url, data={**form, FIELD: "é" * 64})
    assert refused.status_code == 403
    refused = browser.post(url, data=form)  # cookie but no field
    assert refused.status_code == 403
    assert temporal.updates == []
    done = browser.post(url, data={**form, FIELD: token})
    assert done.status_code == 303, done.text
    [(wid, name, msg)] = temporal.updates
    assert (wid, name, msg.by.name, msg.by.email) == (WID, "record_outcome", "Rob Receiver",
                                                      "rob@csc.example")
    page = browser.get(done.headers["location"])
    assert "Not resolved; the case moved to stage 2." in page.text
    assert "What happens next" in page.text


def test_rejection_shown_next_to_its_field_with_text_kept(browser: TestClient,
                                                          temporal: FakeTemporal,
                                                          web_settings: Settings) -> None:
    links = Links(web_settings)
    url = f"{_path(links, _case_grant(links))}/cases/{WID}/outcome"
    token = _csrf(browser.get(url).text)
    temporal.reject = ("Stage 2 is not the current stage: the case is at stage 1 (x). Record "
                       "the outcome for stage 1.")
    page = browser.post(url, data={"stage": "2", "resolved": "yes", "summary": HOSTILE,
                                   FIELD: token})
    assert page.status_code == 400
    assert '<a href="#stage">Stage 2 is not the current stage' in page.text
    assert 'id="stage-error"' in page.text and "govuk-form-group--error" in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</textarea>" in page.text
    assert "<title>Error: " in page.text
    # A model error (empty summary) is placed too, before anything is sent.
    temporal.reject = ""
    temporal.updates.clear()
    page = browser.post(url, data={"stage": "1", "summary": "  ", FIELD: token})
    assert 'href="#resolved"' in page.text and 'href="#summary"' in page.text
    assert temporal.updates == []


def test_auditor_reads_but_cannot_act(browser: TestClient, temporal: FakeTemporal,
                                      web_settings: Settings,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    links = Links(web_settings)
    auditor = Grant(name="Ada Auditor", email="ada@audit.example", role="auditor",
                    expires=links.expiry())
    base = _path(links, auditor)
    assert browser.get(f"{base}/cases/{WID}").status_code == 403  # not in the roles file
    monkeypatch.setenv(ROLES_ENV, json.dumps({"ada@audit.example": {"role": "auditor"}}))
    page = browser.get(f"{base}/cases/{WID}")
    assert page.status_code == 200 and 'id="read-only"' in page.text
    assert f"{WID}/outcome" not in page.text
    form = browser.get(f"{base}/cases/{WID}/outcome")
    assert form.status_code == 403 and "read this case but not change it" in form.text
    token = browser.cookies.get(SESSION_COOKIE)
    assert token
    csrf = _csrf(browser.get(_path(links, _case_grant(links)) + f"/cases/{WID}/pause").text)
    refused = browser.post(f"{base}/cases/{WID}/pause", data={"reason": "x", FIELD: csrf})
    assert refused.status_code == 403 and temporal.updates == []


def test_business_unit_scope(browser: TestClient, web_settings: Settings,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    links = Links(web_settings)
    monkeypatch.setenv(ROLES_ENV, json.dumps({"bu@york.example": {"role": "business_unit",
                                                                  "protocols": ["york"]}}))
    bu = Grant(name="BU", email="bu@york.example", role="business_unit", protocol="york",
               expires=links.expiry())
    assert browser.get(f"{_path(links, bu)}/cases/{WID}").status_code == 200
    assert browser.get(f"{_path(links, bu)}/cases/leeds-2026-0001").status_code == 403
    assert browser.get(f"{_path(links, bu)}/cases/{WID}/outcome").status_code == 403
    practitioner = _path(links, _case_grant(links))
    assert browser.get(f"{practitioner}/cases").status_code == 403
    assert browser.get(f"{practitioner}/raise").status_code == 403


def test_raise_form_validates_and_keeps_typing(browser: TestClient,
                                               web_settings: Settings) -> None:
    links = Links(web_settings)
    raiser = _path(links, Grant(name="Rae Raiser", email="rae@school.example", role="raiser",
                                expires=links.expiry()))
    choose = browser.get(f"{raiser}/raise")
    assert choose.status_code == 200 and "City of York" in choose.text
    page = browser.get(f"{raiser}/raise?protocol=york")
    assert page.status_code == 200 and 'value="Rae Raiser"' in page.text
    assert "immediate risk" in page.text.lower() and "govuk-warning-text" in page.text
    data = {FIELD: _csrf(page.text), "protocol": "york", "urgency": "standard",
            "reference": "2026-0042", "issue": HOSTILE, "raising.name": "Rae Raiser",
            "raising.agency": "School", "receiving.agency": "CSC",
            "child.date_of_birth.day": "31", "child.date_of_birth.month": "2",
            "child.date_of_birth.year": "2016"}
    page = browser.post(f"{raiser}/raise", data=data)
    assert page.status_code == 400
    for field in ("risk_to_child", "nature", "aim", "child-date_of_birth"):
        assert f'href="#{field}"' in page.text, field
    assert "must be a real date" in page.text
    assert "&lt;script&gt;" in page.text and HOSTILE not in page.text
    assert 'value="2026-0042"' in page.text


def test_pages_render_without_govuk_assets(web_settings: Settings, temporal: FakeTemporal,
                                           tmp_path: Path) -> None:
    app = create_app(web_settings, temporal, assets_dir=tmp_path / "missing")  # type: ignore[arg-type]
    page = TestClient(app).get("/")
    assert page.status_code == 200 and "/static/fallback.css" in page.text
    assert TestClient(app).get("/static/fallback.css").status_code == 200


@pytest.mark.skipif(not (GOVUK_DIST / "govuk-frontend.min.css").is_file(),
                    reason="GOV.UK Frontend not installed (npm --prefix starter/web ci)")
def test_govuk_assets_served(browser: TestClient) -> None:
    assert "/assets/govuk-frontend.min.css" in browser.get("/").text
    css = browser.get("/assets/govuk-frontend.min.css")
    assert css.status_code == 200 and "govuk-" in css.text
    fonts = re.findall(r"url\((/assets/fonts/[^)]+)\)", css.text)
    assert fonts and all(browser.get(f).status_code == 200 for f in set(fonts))
    assert browser.get("/assets/govuk-frontend.min.js").status_code == 200
    assert browser.get("/assets/../package.json").status_code == 404


def test_rejections_placed_by_field() -> None:
    agree = ACTIONS["timescale"]
    msg = "The protocol allows at most 10 working days for this stage (Leeds 4.1); 11 were asked"
    assert agree.place(msg, {"kind": "working_days"}) == "amount"
    assert agree.place(msg, {"kind": "until"}) == "until"
    assert agree.place("Changing an agreed timescale is an extension: say why, and who agreed "
                       "it.", {}) == "reason"
    assert ACTIONS["bypass"].place("The DSCB protocol does not allow stages to be bypassed "
                                   "(x). Agree a shorter timescale instead.", {}) is None
    assert ACTIONS["hand-over"].place("'9.raising' is not a role in this case", {}) == "role"


def _cli(*args: str) -> tuple[int, str, str]:
    from starter.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_link_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("RESOLUTIONS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RESOLUTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RESOLUTIONS_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RESOLUTIONS_PUBLIC_URL", "http://forms.example")
    code, out, err = _cli("link", "york-2026-0042", "--name", "Mo Manager", "--email",
                          "mo@csc.example", "--role-key", "2.raising", "--role", "manager")
    assert code == 0, err
    links = Links(Settings(data_dir=tmp_path))
    grant = links.read(out.strip().rsplit("/", 1)[1])
    assert (grant.name, grant.role, grant.role_key, grant.workflow_id) == (
        "Mo Manager", "manager", "2.raising", "york-2026-0042")
    code, out, err = _cli("link", "--business-unit", "--protocol", "york", "--email",
                          "cyscp@york.gov.uk")
    assert code == 1 and "does not hold the business_unit role" in err
    (tmp_path / "roles.toml").write_text(
        '["cyscp@york.gov.uk"]\nrole = "business_unit"\nprotocols = ["york"]\n')
    code, out, err = _cli("link", "--business-unit", "--protocol", "york", "--email",
                          "cyscp@york.gov.uk")
    assert code == 0 and links.read(out.strip().rsplit("/", 1)[1]).protocol == "york"
    code, out, err = _cli("link", "--raiser", "--name", "Rae", "--email", "rae@x.example")
    assert code == 0 and links.read(out.strip().rsplit("/", 1)[1]).role == "raiser"
    code, out, err = _cli("link", "Rae Raiser", "--name", "X", "--email", "x@x.example")
    assert code == 1 and "is not a case id" in err


FILLED = {
    "outcome": {"stage": "1", "resolved": "yes", "summary": "Agreed", "learning_points": "a\nb"},
    "bypass": {"to_stage": "3", "reason": "Urgent", "urgent": "yes", "agreed_by": "A\nB"},
    "pause": {"reason": "Sickness"},
    "resume": {"note": "Back"},
    "timescale": {"stage": "1", "kind": "until", "until.day": "4", "until.month": "3",
                  "until.year": "2031", "until.time": "12:30", "reason": "x"},
    "hand-over": {"role": "2.raising", "person.name": "Nia New", "person.email": "nia@x.example"},
    "confirm": {"duty": "", "summary": "Letter sent"},
    "immediate-risk": {"description": "Disclosure today"},
    "withdraw": {"reason": "Raised in error"},
}


@pytest.mark.parametrize("slug", sorted(ACTIONS))
def test_every_action_form_renders_and_sends_its_update(slug: str, browser: TestClient,
                                                        temporal: FakeTemporal,
                                                        web_settings: Settings) -> None:
    links = Links(web_settings)
    url = f"{_path(links, _case_grant(links))}/cases/{WID}/{slug}"
    page = browser.get(url)
    assert page.status_code == 200, page.text
    labels = set(re.findall(r'<label[^>]*for="([^"]+)"', page.text))
    inputs = set(re.findall(r'<(?:input|textarea|select)[^>]*id="([^"]+)"', page.text))
    assert inputs <= labels, f"inputs without a label: {inputs - labels}"
    done = browser.post(url, data={**FILLED[slug], FIELD: _csrf(page.text)})
    assert done.status_code == 303, done.text
    [(_, name, msg)] = temporal.updates
    assert name == ACTIONS[slug].name and msg.by.name == "Rob Receiver"
    if slug == "timescale":
        assert msg.timescale.until.isoformat() == "2031-03-04T12:30:00+00:00"
    if slug == "outcome":
        assert msg.learning_points == ["a", "b"] and msg.resolved is True


@given(args=st.lists(st.one_of(
    st.text(max_size=30),
    st.sampled_from(["--name", "--email", "--role-key", "--role", "--protocol", "--days",
                     "--business-unit", "--auditor", "--raiser", "york-2026-0001", "york",
                     "manager", "a@b.example", "-1", "\r", "\x00"])), max_size=8))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_link_command_fails_with_one_clear_line(args: list[str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESOLUTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RESOLUTIONS_SETTINGS_FILE", str(tmp_path / "none.toml"))
    try:
        code, out, err = _cli("link", *args)
    except SystemExit:  # argparse's own usage message and one error line
        return
    assert "Traceback" not in out + err
    if code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
