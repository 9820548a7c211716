"""Issue 14's attacks, each run on loopback against the real pieces, each now failing.

The one-machine stack (`python -m starter.devstack`: dev server, mail sink, worker, web forms)
runs as a subprocess and is driven by the `resolutions` CLI as a subprocess and by HTTP; mail
goes through real aiosmtpd servers, with and without STARTTLS (a self-signed certificate made
here).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.testing import ActivityEnvironment

from activities.mail import NotificationActivities
from infra.links import Links
from infra.settings import Settings, SettingsError, load_settings
from infra.smtp import connection_options
from protocols.addresses import check_address
from protocols.messages import Person
from starter.web.app import create_app
from tests.conftest import (
    as_operator,
    case_input,
    cli,
    devstack,
    filed_mail,
    free_port,
    link_in,
    make_worker,
    start_case,
)
from tests.test_notify import plain_request
from workflows.disagreement import DisagreementWorkflow

pytestmark = pytest.mark.slow
CHILD = "Zephyrine Quillfeather"
SECOND = "Second Unrelated Agency"


# -- the one-machine stack -------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """`python -m starter.devstack` as `./dev start` runs it, on ports of its own."""
    tmp = tmp_path_factory.mktemp("stack")
    with devstack(tmp) as env:
        yield env, tmp


def _raise(env: dict[str, str], reference: str, ok: bool = True, *extra: str):
    return cli(env, "raise", "--protocol", "swindon", "--reference", reference,
               "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
               "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
               "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
               "--issue", "Case closed after one visit", "--child-name", CHILD, *extra, ok=ok)



def _link(data: Path, record: dict) -> str:
    link = link_in(data, record)
    assert link, "no personal link in the e-mail"
    return link


def _listening(port: int) -> set[str]:
    """The local addresses sockets listen on for ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(host)
                if len(raw) == 4:
                    found.add(str(ipaddress.IPv4Address(raw[::-1])))
                else:  # /proc prints IPv6 as four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(str(ipaddress.IPv6Address(words)))
    return found


def test_embedded_stack_keeps_cases_from_other_local_users(stack) -> None:
    env, tmp = stack
    data = tmp / "data"
    _raise(env, "2026-0701")
    assert filed_mail(data, "swindon-2026-0701"), "no e-mail filed for the new case"
    token = (data / "codec_token").read_text().strip()
    secret = (data / "link_secret").read_text().strip()

    # No secret on any command line (any local user reads /proc/*/cmdline).
    server_lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        assert token not in line and secret not in line, line
        if "start-dev" in line and str(data) in line:
            server_lines.append(line)
    assert server_lines and all("--ui-codec-endpoint" not in line for line in server_lines)

    # The codec endpoint reaches its user only: a 0600 file, and printed once to the terminal.
    endpoint = data / "codec-endpoint.txt"
    assert endpoint.read_text().strip() == f"{env['RESOLUTIONS_PUBLIC_URL']}/codec/t/{token}"
    assert (tmp / "stack.log").read_text().count(token) == 1

    # The Temporal UI gives no codec endpoint to whoever asks, whatever the Host header says.
    ui = f"http://127.0.0.1:{env['RESOLUTIONS_DEV_SERVER_UI_PORT']}"
    for host in ("attacker.example", "127.0.0.1"):
        reply = httpx.get(f"{ui}/api/v1/settings", headers={"Host": host}, timeout=10)
        assert token not in reply.text and "/codec" not in reply.text

    # The data dir is 0700 and every file in it 0600: mail, index, SQLite, keys.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    for name in ("temporal.db", "temporal-server.log", "keys.json", "mail/index.jsonl"):
        assert (data / name).is_file(), name
    assert list((data / "mail").glob("*.eml"))

    # Every embedded service listens on loopback only.
    for name in ("DEV_SERVER_PORT", "DEV_SERVER_UI_PORT", "SMTP_PORT", "WEB_PORT"):
        addresses = _listening(int(env[f"RESOLUTIONS_{name}"]))
        assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), name


def test_a_reference_names_one_case_for_good(stack) -> None:
    env, tmp = stack
    data = tmp / "data"
    # A child's name is no reference: refused, saying why; no case started.
    named = _raise(env, "Zephyrine-Quillfeather-2019", ok=False)
    assert named.returncode == 1 and "looks like a name" in named.stderr
    listed = cli(env, "list", "--all", "--json").stdout
    assert "zephyrine" not in listed.lower()

    _raise(env, "2026-0702")
    [first_mail, *_] = filed_mail(data, "swindon-2026-0702")
    old_link = _link(data, first_mail)
    again = _raise(env, "2026-0702", ok=False)
    assert again.returncode == 1
    assert "A case with reference 2026-0702 already exists for SSP" in again.stderr
    assert "already started" not in again.stderr

    # Letter case never matters: status, actions and raising all find the one case.
    status = json.loads(cli(env, "status", "SWINDON-2026-0702", "--json").stdout)
    assert status["workflow_id"] == "swindon-2026-0702"
    capitals = _raise(env, "2026-0702".upper(), ok=False)
    assert "already exists" in capitals.stderr
    rae = as_operator(env, "Rae", "rae@school.example", "raising")
    cli(rae, "withdraw", "Swindon-2026-0702", "--reason", "Raised in error", "--by", "Rae")
    closed = _raise(env, "2026-0702", ok=False)  # closed, and still not reused
    assert "already exists" in closed.stderr

    # Purged past retention, the reference stays taken; the old link opens nothing.
    purged = cli(env, "purge", "--as-of", "2040-01-01")
    assert "swindon-2026-0702" in purged.stdout
    assert stat.S_IMODE((data / "purge-log.jsonl").stat().st_mode) == 0o600
    after = _raise(env, "2026-0702", ok=False)
    assert after.returncode == 1 and "already existed for SSP" in after.stderr
    # The dev server deletes a just-closed case once it has acknowledged its close tasks, on
    # a timer of about 30 s (years later, in real use, at once).
    deadline = time.monotonic() + 150
    while cli(env, "status", "swindon-2026-0702", ok=False).returncode == 0:
        assert time.monotonic() < deadline, "the purged case was not deleted"
        time.sleep(2)
    assert httpx.get(old_link, follow_redirects=True, timeout=20).status_code == 404


async def test_a_link_opens_only_the_run_it_was_sent_for(dev_env, settings: Settings) -> None:
    """Should an id ever be started afresh (a purge on another host, a start by hand on the
    server), links sent for the earlier case do not open the new one."""
    client = dev_env.client
    async with make_worker(client, settings):
        first = await start_case(client, case_input("york", "2026-0710"))
        links = Links(settings)
        rob = Person(name="Rob Receiver", email="rob@csc.example")
        old = links.for_case(first.id, rob, "receiving", run_id=first.first_execution_run_id)
        await first.terminate("closed for the test")
        again = await client.start_workflow(  # what our raise refuses: reuse of the id
            DisagreementWorkflow.run, case_input("york", "2026-0710", receiving=Person(
                name="Rob Receiver", agency=SECOND, email="rob@csc.example")), id=first.id,
            task_queue=settings.task_queue)
        new = links.for_case(first.id, rob, "receiving", run_id=again.first_execution_run_id)
        app = create_app(settings, client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            new_page = await http.get(f"/t/{links.token(new)}/cases/{first.id}")
            old_page = await http.get(f"/t/{links.token(old)}/cases/{first.id}")
            unbound = await http.get(f"/t/{links.token(replace(old, run_id=''))}/cases/"
                                     f"{first.id}")
    assert new_page.status_code == 200 and SECOND in new_page.text
    assert SECOND in unbound.text  # what every link did before: the id's latest case
    # The old link reads its own (terminated) case at most, never the new one.
    assert SECOND not in old_page.text


def test_a_deployment_sets_the_reference_pattern(stack) -> None:
    env, _ = stack
    own = {**env, "RESOLUTIONS_REFERENCE_PATTERN": r"CSC-\d{6}"}
    refused = _raise(own, "2026-0703", ok=False)
    assert refused.returncode == 1 and "RESOLUTIONS_REFERENCE_PATTERN" in refused.stderr
    assert "Raised case swindon-csc-123456" in _raise(own, "CSC-123456").stdout


def test_addresses_that_inject_into_mail_or_links_are_refused(stack, tmp_path: Path) -> None:
    env, tmp = stack
    injected = "rob@csc.example?cc=eve@evil.example&body=x"
    flag = cli(env, "raise", "--protocol", "swindon", "--reference", "2026-0704",
               "--raising-name", "Rae", "--raising-agency", "A", "--receiving-agency", "B",
               "--issue", "x", "--receiving-email", injected, ok=False)
    assert flag.returncode == 1 and "'?'" in flag.stderr
    case_file = tmp_path / "case.toml"
    case_file.write_text('protocol = "swindon"\nreference = "2026-0704"\nissue = "x"\n'
                         '[raising]\nname = "Rae"\nagency = "A"\n[receiving]\nagency = "B"\n'
                         '[holders."2.raising"]\nname = "Lee"\nemail = "lee@x.example&to=e"\n')
    from_file = cli(env, "raise", "--file", str(case_file), ok=False)
    assert from_file.returncode == 1 and "'&'" in from_file.stderr
    _raise(env, "2026-0705")
    rob = as_operator(env, "Rob Receiver", "rob@csc.example", "receiving")
    handover = cli(rob, "assign", "swindon-2026-0705", "--role", "2.receiving", "--name", "Eve",
                   "--email", "eve@evil.example,rob@csc.example", ok=False)
    assert handover.returncode == 1 and "not an e-mail address" in handover.stderr
    holders = json.loads(cli(env, "status", "swindon-2026-0705", "--json").stdout)["holders"]
    assert "eve" not in json.dumps(holders).lower()
    for name, value in (("MAIL_FROM", "Resolutions <resolutions@localhost>"),
                        ("PARTNERSHIP_ADDRESSES", '{"swindon": "ssp@x.example?bcc=e@x.org"}')):
        bad = cli({**env, f"RESOLUTIONS_{name}": value}, "list", ok=False)
        assert bad.returncode == 1 and f"RESOLUTIONS_{name}" in bad.stderr
    check_address(load_settings().mail_from.split("<")[1].rstrip(">"))  # the default passes


def _post_raw(url: httpx.URL, cookie: str, body: bytes, chunked: bool) -> str:
    """POST ``body`` on a plain socket and read the answer, even if the server stops reading."""
    head = (f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Connection: close\r\n")
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else \
        f"Content-Length: {len(body)}\r\n\r\n"
    parts = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    if chunked:
        parts = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts] + [b"0\r\n\r\n"]
    answer = b""
    with socket.create_connection((url.host, url.port), timeout=20) as sock:
        try:
            sock.sendall(head.encode())
            for part in parts:
                sock.sendall(part)
        except OSError:  # the server answered and closed before taking it all: as it should
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer.decode(errors="replace")


def test_web_refuses_huge_bodies(stack) -> None:
    env, tmp = stack
    data = tmp / "data"
    _raise(env, "2026-0706")
    link = _link(data, filed_mail(data, "swindon-2026-0706")[0])
    with httpx.Client(timeout=30) as http:
        page = http.get(link, follow_redirects=True)
        assert page.status_code == 200 and "Strict-Transport-Security" not in page.headers
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    pause = page.url.copy_with(path=page.url.path + "/pause")
    big = b"reason=" + b"x" * 2_000_000
    for chunked in (False, True):
        answer = _post_raw(pause, cookie, big, chunked)
        assert answer.startswith("HTTP/1.1 413") and "too large" in answer, answer[:300]
    assert json.loads(cli(env, "status", "swindon-2026-0706", "--json").stdout)[
        "status"] == "open"


async def test_hsts_when_the_public_url_is_https(dev_env, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://forms.partnership.example")
    app = create_app(settings, dev_env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        reply = await http.get("/t/not-a-link/cases")
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_short_secrets_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONS_")}
    env.update({"RESOLUTIONS_DATA_DIR": str(tmp_path),
                "RESOLUTIONS_SETTINGS_FILE": str(tmp_path / "none.toml")})
    for name in ("LINK_SECRET", "CODEC_ENDPOINT_TOKEN"):
        short = cli({**env, f"RESOLUTIONS_{name}": "x"}, "link", "--raiser", "--name", "Rae",
                    "--email", "rae@school.example", ok=False)
        assert short.returncode == 1 and f"RESOLUTIONS_{name}" in short.stderr
        assert "at least 32 random bytes" in short.stderr


# -- mail transport ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Relay:
    """What an aiosmtpd server received, and whether each message came over TLS."""

    def __init__(self) -> None:
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.over_tls.append(session.ssl is not None)
        return "250 OK"


@pytest.fixture
def relay(certificate) -> Iterator[tuple[Relay, int, Relay, int]]:
    """One server that insists on STARTTLS (self-signed), one that offers no TLS at all."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    tls_box, plain_box = Relay(), Relay()
    tls_port, plain_port = free_port(), free_port()
    servers = [Controller(tls_box, hostname="127.0.0.1", port=tls_port, tls_context=context,
                          require_starttls=True),
               Controller(plain_box, hostname="127.0.0.1", port=plain_port)]
    for server in servers:
        server.start()
    try:
        yield tls_box, tls_port, plain_box, plain_port
    finally:
        for server in servers:
            server.stop()


async def _send(tmp_path: Path, port: int, **smtp: object) -> None:
    settings = Settings(data_dir=tmp_path / str(len(list(tmp_path.iterdir()))), smtp_port=port,
                        public_url="https://pr.example", **smtp)
    request = plain_request("leeds", "paused", ["raising"], reason="Sickness")
    await ActivityEnvironment().run(NotificationActivities(settings).send_notification, request)


async def test_starttls_is_used_whenever_the_server_offers_it(relay, certificate,
                                                               tmp_path: Path) -> None:
    tls_box, tls_port, plain_box, plain_port = relay
    await _send(tmp_path, tls_port)  # the defaults
    assert tls_box.over_tls == [True]
    with pytest.raises(aiosmtplib.SMTPException):  # what the old default (off) did: refused
        await _send(tmp_path, tls_port, smtp_starttls="off")
    await _send(tmp_path, plain_port)  # a local sink without TLS still gets its mail
    assert plain_box.over_tls == [False]


async def test_required_tls_checks_the_certificate(relay, certificate, tmp_path: Path) -> None:
    tls_box, tls_port, plain_box, plain_port = relay
    with pytest.raises((aiosmtplib.SMTPException, ssl.SSLError)):  # self-signed, not trusted
        await _send(tmp_path, tls_port, smtp_starttls="required")
    with pytest.raises(aiosmtplib.SMTPException):  # no STARTTLS offered: nothing sent plain
        await _send(tmp_path, plain_port, smtp_starttls="required")
    assert tls_box.over_tls == [] and plain_box.over_tls == []
    await _send(tmp_path, tls_port, smtp_starttls="required", smtp_ca_file=str(certificate[0]))
    assert tls_box.over_tls == [True]


def test_a_relay_off_this_machine_needs_tls(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("RESOLUTIONS_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RESOLUTIONS_SMTP_HOST", "mail.partnership.example")
    options = connection_options(load_settings())
    assert options["start_tls"] is True
    assert options["tls_context"].verify_mode == ssl.CERT_REQUIRED
    monkeypatch.setenv("RESOLUTIONS_SMTP_STARTTLS", "false")
    with pytest.raises(SettingsError, match="RESOLUTIONS_SMTP_ALLOW_PLAINTEXT"):
        load_settings()
    monkeypatch.setenv("RESOLUTIONS_SMTP_ALLOW_PLAINTEXT", "true")
    assert connection_options(load_settings())["start_tls"] is False


def test_stored_cases_keep_loading_when_the_address_check_tightens() -> None:
    """An address a running case was raised with under the older check still decodes from its
    history (the workflow would otherwise fail to load); typed afresh, it is refused."""
    from protocols.messages import FROM_PEOPLE, Person

    stored = {"name": "Rob Receiver", "email": "rob?cc=x@csc.example"}
    assert Person.model_validate(stored).email == "rob?cc=x@csc.example"
    with pytest.raises(ValueError, match="not allowed in an address"):
        Person.model_validate(stored, context=FROM_PEOPLE)
    with pytest.raises(ValueError, match="is not an e-mail address"):
        Person.model_validate({"email": "no at sign"})
