"""Delivery channels against real local servers: aiosmtpd (plain, STARTTLS, SSL, AUTH) and http.server."""

from __future__ import annotations

import email
import errno
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.delivery.channels import (
    DeliveryError,
    MailCaps,
    SmtpSettings,
    build_email,
    header_text,
    post_webhook,
    send_email,
    smtp_password,
    write_file_atomic,
)
from monitor.delivery.digest import Digest, DigestStory, StorySource
from monitor.delivery.render import render_webhook

UTC = timezone.utc
ENCODED_WORD_TRICK = "=?UTF-8?Q?=0A?=Bcc: victim@evil.example"
EXPECTED_HEADERS = {"subject", "from", "to", "date", "message-id", "list-id", "auto-submitted",
                    "x-auto-response-suppress", "x-mailer", "mime-version", "content-type"}


def digest(*titles: str, link: str = "https://news.example/{n}") -> Digest:
    stories = [
        DigestStory(anchor=f"item-{n}", item_id=n, title=t, original_title=None, language="en",
                    translation_status="not_needed", summary=f"About {t}", link=link.format(n=n),
                    feed="Example News", published=datetime(2024, 5, 9, 8, n % 60, tzinfo=UTC),
                    score=1.0 - n / 100, why=['"parade" in title'])
        for n, t in enumerate(titles, start=1)
    ]
    return Digest(watchlist="victory-day", title="Victory Day", timezone="Europe/Moscow",
                  period_start=datetime(2024, 5, 8, 21, tzinfo=UTC), period_end=datetime(2024, 5, 9, 21, tzinfo=UTC),
                  generated_at=datetime(2024, 5, 9, 21, 5, tzinfo=UTC), stories=stories)


def translated_digest() -> Digest:
    d = digest("Parade held on Red Square", "Fireworks over Moscow")
    d.stories[0] = replace(d.stories[0], original_title="Парад прошёл на Красной площади", language="ru",
                           translation_status="translated",
                           also_reported_by=[StorySource("RIA", "Парад", "https://ria.example/1", "ru", None)])
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- SMTP server -------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool = False

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Sink:
    """aiosmtpd handler keeping what it receives; replies can be forced to test failures."""

    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content,
                                      bool(session.authenticated)))
        return "250 Message accepted for delivery"


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"analyst" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def smtp_plain() -> Iterator[tuple[Sink, SmtpSettings]]:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield sink, SmtpSettings(host="127.0.0.1", port=ctl.port, security="none", username=None,
                                 from_addr="News Monitor <monitor@example.org>", timeout=5)
    finally:
        ctl.stop()


def settings_for(port: int, security: str, cert: Path | None = None, **kw: Any) -> SmtpSettings:
    base: dict[str, Any] = dict(host="127.0.0.1", port=port, security=security, username=None,
                                from_addr="monitor@example.org", timeout=5, ca_file=str(cert) if cert else None)
    base.update(kw)
    return SmtpSettings(**base)


# --- email: content and headers ------------------------------------------------


def test_email_arrives_with_headers_and_both_parts(smtp_plain: tuple[Sink, SmtpSettings]) -> None:
    sink, settings = smtp_plain
    msg = build_email(translated_digest(), from_addr=settings.from_addr,
                      to=["alice@example.org", "Bob Analyst <bob@example.org>"], list_id="victory-day")
    send_email(msg, settings)

    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == "monitor@example.org"
    assert sorted(got.rcpt_tos) == ["alice@example.org", "bob@example.org"]
    m = got.message
    assert {k.lower() for k in m.keys()} == EXPECTED_HEADERS
    assert m["Subject"] == "[Victory Day] 2 stories: Parade held on Red Square (+1 more)"
    assert m["To"].addresses[1].display_name == "Bob Analyst"
    assert m["List-Id"] == '"Victory Day" <victory-day.news-monitor.localhost>'
    assert m["Message-ID"].startswith("<digest.") and m["Message-ID"].endswith("@example.org>")
    assert m["Date"].datetime is not None and m["Date"].datetime.tzinfo is not None
    assert m.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in m.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "1. Parade held on Red Square" in parts["text/plain"]
    assert "Original (ru): Парад прошёл на Красной площади" in parts["text/plain"]
    assert "https://news.example/1" in parts["text/plain"]
    assert 'href="https://news.example/1"' in parts["text/html"]
    assert "Парад прошёл на Красной площади" in parts["text/html"]
    # every line of the wire format is within the SMTP limit
    assert max(len(line) for line in got.data.split(b"\r\n")) <= 998


def test_message_id_is_stable_for_a_retried_digest() -> None:
    d = translated_digest()
    a = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x")
    b = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x")
    other = build_email(digest("Other"), from_addr="m@example.org", to=["a@example.org"], list_id="x")
    assert a["Message-ID"] == b["Message-ID"] != other["Message-ID"]


def test_text_only_email() -> None:
    msg = build_email(digest("One"), from_addr="m@example.org", to=["a@example.org"], list_id="x", html=False)
    assert msg.get_content_type() == "text/plain"
    assert "1. One" in msg.get_content()


def test_empty_digest_subject_says_nothing_matched() -> None:
    msg = build_email(digest(), from_addr="m@example.org", to=["a@example.org"], list_id="x")
    assert msg["Subject"] == "[Victory Day] nothing matched"
    assert "Nothing matched in this period." in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["a@example.org\r\nBcc: x@evil.example", "=?utf-8?q?x?= <a@example.org>",
                                 "not-an-address", "a@b@c", ""])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        build_email(digest("One"), from_addr="m@example.org", to=[bad], list_id="x")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_hostile_titles_arrive_harmless(smtp_plain: tuple[Sink, SmtpSettings]) -> None:
    sink, settings = smtp_plain
    d = digest(
        "Breaking\r\nBcc: victim@evil.example\r\nX-Injected: 1",
        ENCODED_WORD_TRICK + " " + "=?utf-8?b?DQpYLUV2aWw6IDE=?=",
        '<script>alert("x")</script> click <a href="javascript:alert(1)">me</a>',
        "A" * 10_000,
    )
    d.stories[0] = replace(d.stories[0], score=2.0)  # the CRLF title leads the subject
    d.stories[2] = replace(d.stories[2], link="javascript:alert(document.cookie)",
                           summary='<img src="https://tracker.example/p.gif" onerror="x()"> hi')
    msg = build_email(d, from_addr=settings.from_addr, to=["alice@example.org"], list_id="victory-day")
    send_email(msg, settings)

    got = sink.received[0]
    assert got.rcpt_tos == ["alice@example.org"]  # no smuggled Bcc recipient
    m = got.message
    assert {k.lower() for k in m.keys()} == EXPECTED_HEADERS  # no injected header
    subject = str(m["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("[Victory Day] 4 stories: Breaking Bcc: victim@evil.example X-Injected: 1")
    assert len(subject) <= 160
    # raw header block: every physical line is a header or a folded continuation
    head = got.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if not line[:1].isspace()]
    assert set(names) == EXPECTED_HEADERS
    assert all(len(line) <= 78 for line in head.split("\r\n"))

    html = m.get_body(("html",)).get_content()  # type: ignore[union-attr]
    parser = _Tags()
    parser.feed(html)
    assert not {t for t, _ in parser.tags} & {"script", "img"}
    for _, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on")
            if name in ("href", "src"):
                assert value and value.startswith("https://"), value
    text = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "javascript:alert(document.cookie)" not in text


def test_long_title_subject_is_truncated_sensibly() -> None:
    msg = build_email(digest("word " * 2000), from_addr="m@example.org", to=["a@example.org"], list_id="x")
    subject = msg["Subject"]
    assert subject.startswith("[Victory Day] 1 story: word word") and subject.endswith("…")
    assert len(subject) <= 160


def test_header_text_breaks_encoded_words() -> None:
    cleaned = header_text(ENCODED_WORD_TRICK)
    assert "=?" not in cleaned and "?=" not in cleaned
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = cleaned
    assert "\n" not in str(msg["Subject"])


# --- SMTP transports and failures -------------------------------------------


def test_starttls_with_auth(cert: tuple[Path, Path]) -> None:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port(), tls_context=server_context(cert),
                     require_starttls=True, authenticator=authenticator, auth_required=True)
    ctl.start()
    try:
        settings = settings_for(ctl.port, "starttls", cert[0], username="analyst", password="s3cret")
        send_email(build_email(digest("Over TLS"), from_addr="monitor@example.org",
                               to=["a@example.org", "b@example.org", "c@example.org"], list_id="x"), settings)
        assert len(sink.received) == 1 and sink.received[0].authenticated
        assert sorted(sink.received[0].rcpt_tos) == ["a@example.org", "b@example.org", "c@example.org"]

        with pytest.raises(DeliveryError) as bad_auth:
            send_email(build_email(digest("x"), from_addr="monitor@example.org", to=["a@example.org"],
                                   list_id="x"), replace(settings, password="wrong"))
        assert bad_auth.value.transient is False and bad_auth.value.code == 535

        with pytest.raises(DeliveryError) as untrusted:  # server certificate not in the CA bundle
            send_email(build_email(digest("x"), from_addr="monitor@example.org", to=["a@example.org"],
                                   list_id="x"), replace(settings, ca_file=None))
        assert untrusted.value.transient is False and "certificate" in str(untrusted.value)
        assert len(sink.received) == 1
    finally:
        ctl.stop()


def test_implicit_tls_with_password_from_credentials_dir(cert: tuple[Path, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    (tmp_path / "smtp-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(cert),
                     authenticator=authenticator,
                     auth_require_tls=False)  # aiosmtpd does not see implicit TLS; the socket is TLS
    ctl.start()
    try:
        send_email(build_email(digest("Over SSL"), from_addr="monitor@example.org", to=["a@example.org"],
                               list_id="x"), settings_for(ctl.port, "ssl", cert[0], username="analyst"))
        assert len(sink.received) == 1
        assert "Over SSL" in sink.received[0].message["Subject"]
        assert sink.received[0].authenticated is True
    finally:
        ctl.stop()


def test_starttls_required_but_not_offered_is_permanent(smtp_plain: tuple[Sink, SmtpSettings]) -> None:
    sink, settings = smtp_plain
    with pytest.raises(DeliveryError) as exc:
        send_email(build_email(digest("x"), from_addr="m@example.org", to=["a@example.org"], list_id="x"),
                   replace(settings, security="starttls"))
    assert exc.value.transient is False
    assert sink.received == []


def test_username_without_password_is_a_clear_error(smtp_plain: tuple[Sink, SmtpSettings],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    _, settings = smtp_plain
    with pytest.raises(DeliveryError, match="MONITOR_SMTP_PASSWORD"):
        send_email(build_email(digest("x"), from_addr="m@example.org", to=["a@example.org"], list_id="x"),
                   replace(settings, username="analyst"))


def test_server_down_is_transient_and_a_retry_after_restart_delivers_once() -> None:
    port = free_port()
    settings = settings_for(port, "none")
    msg = build_email(digest("First", "Second", "Third"), from_addr="monitor@example.org",
                      to=["a@example.org"], list_id="victory-day")
    with pytest.raises(DeliveryError) as exc:
        send_email(msg, settings)
    assert exc.value.transient is True

    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        send_email(msg, settings)
    finally:
        ctl.stop()
    assert len(sink.received) == 1
    text = sink.received[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(t in text for t in ("First", "Second", "Third"))


def test_4xx_is_transient_and_5xx_is_permanent(smtp_plain: tuple[Sink, SmtpSettings]) -> None:
    sink, settings = smtp_plain
    msg = build_email(digest("x"), from_addr="m@example.org", to=["a@example.org"], list_id="x")
    sink.data_reply = "451 4.3.0 Try again later"
    with pytest.raises(DeliveryError) as soft:
        send_email(msg, settings)
    assert soft.value.transient is True and soft.value.code == 451
    sink.data_reply = "554 5.7.1 Rejected as spam"
    with pytest.raises(DeliveryError) as hard:
        send_email(msg, settings)
    assert hard.value.transient is False and hard.value.code == 554
    sink.data_reply = None
    sink.rcpt_reply = "550 5.1.1 No such user"
    with pytest.raises(DeliveryError) as rcpt:
        send_email(msg, settings)
    assert rcpt.value.transient is False and rcpt.value.code == 550
    sink.rcpt_reply = "450 4.2.1 Mailbox busy"
    with pytest.raises(DeliveryError) as busy:
        send_email(msg, settings)
    assert busy.value.transient is True
    assert sink.received == []


def test_smtp_password_sources(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("from-file\n")
    assert smtp_password({"MONITOR_SMTP_PASSWORD": "from-env", "CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-env"
    assert smtp_password({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-file"
    assert smtp_password({"CREDENTIALS_DIRECTORY": str(tmp_path / "missing")}) is None
    assert smtp_password({}) is None


# --- webhook -------------------------------------------------------------------


@dataclass
class HookState:
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    extra: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def hook() -> Iterator[tuple[HookState, str]]:
    state = HookState()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            state.bodies.append(self.rfile.read(length))
            state.headers.append(dict(self.headers))
            self.send_response(state.status)
            for k, v in state.extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_json(hook: tuple[HookState, str]) -> None:
    state, url = hook
    payload = render_webhook(translated_digest())
    post_webhook(url, payload)
    assert len(state.bodies) == 1
    assert json.loads(state.bodies[0]) == payload
    assert state.headers[0]["Content-Type"] == "application/json"
    assert json.loads(state.bodies[0])["stories"][0]["original_title"] == "Парад прошёл на Красной площади"


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (429, True), (404, False),
                                                    (400, False), (301, False)])
def test_webhook_errors(hook: tuple[HookState, str], status: int, transient: bool) -> None:
    state, url = hook
    state.status = status
    state.extra = {"Retry-After": "7"} if status in (429, 503) else {}
    with pytest.raises(DeliveryError) as exc:
        post_webhook(url, {"x": 1})
    assert exc.value.transient is transient and exc.value.code == status
    if status in (429, 503):
        assert exc.value.retry_after == 7.0


def test_webhook_unreachable_is_transient_and_bad_url_permanent() -> None:
    with pytest.raises(DeliveryError) as down:
        post_webhook(f"http://127.0.0.1:{free_port()}/hook", {"x": 1}, timeout=2)
    assert down.value.transient is True
    with pytest.raises(DeliveryError) as bad:
        post_webhook("file:///etc/passwd", {"x": 1})
    assert bad.value.transient is False


def test_webhook_timeout_is_transient() -> None:
    with socket.socket() as listener:  # accepts connections but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(DeliveryError) as exc:
            post_webhook(f"http://127.0.0.1:{listener.getsockname()[1]}/", {"x": 1}, timeout=0.5)
    assert exc.value.transient is True


# --- files ---------------------------------------------------------------------


def test_write_file_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "victory-day.md"
    write_file_atomic(target, "first\n")
    write_file_atomic(target, "второй\n")
    assert target.read_text(encoding="utf-8") == "второй\n"
    assert os.listdir(tmp_path) == ["victory-day.md"]


def test_write_file_atomic_leaves_old_content_on_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "digest.md"
    target.write_text("old digest\n")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)  # the OS reports ENOSPC when data is flushed
    with pytest.raises(DeliveryError, match="disk full") as exc:
        write_file_atomic(target, "new digest\n" * 1000)
    assert exc.value.transient is True
    assert target.read_text() == "old digest\n"
    assert os.listdir(tmp_path) == ["digest.md"]  # no temporary file left behind


def test_write_file_atomic_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="directory does not exist") as exc:
        write_file_atomic(tmp_path / "nope" / "d.md", "x")
    assert exc.value.transient is False


def test_non_ascii_subject_round_trips(smtp_plain: tuple[Sink, SmtpSettings]) -> None:
    sink, settings = smtp_plain
    d = digest("Парад Победы на Красной площади — " + "очень длинный заголовок " * 8)
    send_email(build_email(d, from_addr="Новости <monitor@example.org>", to=["a@example.org"], list_id="x"),
               settings)
    m = sink.received[0].message
    assert m["Subject"].startswith("[Victory Day] 1 story: Парад Победы на Красной площади — очень")
    assert m["Subject"].endswith("…") and len(m["Subject"]) <= 160
    assert m["From"].addresses[0].display_name == "Новости"
    head = sink.received[0].data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))


from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

_NASTY = st.sampled_from(["\r", "\n", "\r\n", "=?", "?=", "=?UTF-8?Q?=0A?=", "=?utf-8?b?DQo=?=", "Bcc: x@evil.example",
                          ":", ";", "<", ">", '"', "\\", "\x00", "\u2028", "\u202e", "\x85", " ", "=0D=0A"])
_TITLES = st.lists(st.one_of(_NASTY, st.text(max_size=20)), max_size=30).map("".join)


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TITLES, name=_TITLES)
def test_no_title_can_add_or_break_a_header(title: str, name: str) -> None:
    d = replace(digest(title or "x"), title=name)
    msg = build_email(d, from_addr="monitor@example.org", to=["a@example.org"], list_id="victory-day", html=False)
    wire = msg.as_bytes()
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b"")  # no bare CR or LF anywhere in the header block
    assert b"\r" not in head.replace(b"\r\n", b"")
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert {n.decode() for n in names} == EXPECTED_HEADERS | {"content-transfer-encoding"}
    parsed = email.message_from_bytes(wire, policy=policy.default)
    subject = str(parsed["Subject"])
    assert "\r" not in subject and "\n" not in subject
    # The email package can split an encoded word inside a 4-byte character when it folds the
    # header ("=F0=90=80=8 0"), so the decoded subject may come back a few characters longer.
    assert len(subject) <= 160 + 4
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.org"]


def test_settings_from_the_config_smtp_block() -> None:
    from monitor.config import SmtpConfig

    s = SmtpSettings.from_config(SmtpConfig(host="mail.example.org", port=465, security="ssl", username="nm",
                                            from_addr="nm@example.org"))
    assert (s.host, s.port, s.security, s.username, s.from_addr, s.password) == (
        "mail.example.org", 465, "ssl", "nm", "nm@example.org", None)


# --- issue 19: caps, a Message-ID from the contents, chat escaping ---------------------------------


def test_message_id_ignores_generation_time_and_follows_the_items() -> None:
    d = digest("Parade", "Fireworks")
    later = replace(d, generated_at=datetime(2024, 5, 9, 23, 59, tzinfo=UTC),
                    period_end=datetime(2024, 5, 9, 23, 59, tzinfo=UTC))
    ids = [build_email(x, from_addr="m@example.org", to=["a@example.org"], list_id="x")["Message-ID"]
           for x in (d, later, replace(d, stories=d.stories[:1]), replace(d, watchlist="other"))]
    assert ids[0] == ids[1]  # a retry generated later: the same message
    assert len(set(ids[1:])) == 3  # other items, other watchlist: other messages


def test_capped_mail_says_what_was_left_out_in_both_parts() -> None:
    d = digest(*[f"Parade story number {n}" for n in range(12)])
    caps = MailCaps(max_stories=5, max_bytes=1_000_000, elsewhere="the Markdown digest under /srv/digests/x")
    msg = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x", caps=caps)
    text = msg.get_body(("plain",)).get_content()
    html_part = msg.get_body(("html",)).get_content()
    assert text.startswith("This mail carries the 5 highest-scoring of 12 stories")
    assert "The other 7 are in the Markdown digest under /srv/digests/x" in text
    assert "monitor watchlist test victory-day" in text and "highest-scoring of 12" in html_part
    assert text.count("Why:") == 5 and "Parade story number 0" in text and "Parade story number 11" not in text
    assert "12 stories" in str(msg["Subject"])  # the subject counts every story


def test_byte_cap_drops_stories_until_the_message_fits() -> None:
    d = digest(*[f"Story {n} " + "long words " * 300 for n in range(30)])
    uncapped = len(build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x").as_bytes())
    msg = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x",
                      caps=MailCaps(max_stories=50, max_bytes=60_000))
    size = len(msg.as_bytes())
    assert uncapped > 60_000 >= size
    text = msg.get_body(("plain",)).get_content()
    assert "highest-scoring of 30 stories" in text and 0 < text.count("Why:") < 30


def test_permanent_refusals_are_told_apart_from_config_errors() -> None:
    from monitor.delivery.dispatch import refused_for_good

    assert refused_for_good("email", DeliveryError("552 too big", transient=False, code=552))
    assert refused_for_good("webhook", DeliveryError("413", transient=False, code=413))
    assert not refused_for_good("email", DeliveryError("451 later", transient=True, code=451))
    assert not refused_for_good("email", DeliveryError("no recipients", transient=False))
    assert not refused_for_good("webhook", DeliveryError("404", transient=False, code=404))


def test_webhook_text_escapes_chat_markup(hook: tuple[HookState, str]) -> None:
    state, url = hook
    d = digest("<@U024BE7LH> <!here> parade & fireworks", link="https://news.example/{n}|TASS>x")
    post_webhook(url, render_webhook(d))
    text = json.loads(state.bodies[0])["text"]
    assert "&lt;@\u2060U024BE7LH&gt; &lt;!here&gt; parade &amp; fireworks" in text
    assert "<https://news.example/1%7CTASS%3Ex>" in text
    assert "<@" not in text and "<!" not in text and "|" not in text
    assert json.loads(state.bodies[0])["stories"][0]["title"].startswith("<@U024BE7LH>")  # data stays data


MATTERMOST_MARKUP = "**Breaking** @channel @all ~town-square #parade [TASS](https://evil.example) ![x](https://t.example/p.png) `x` _y_ | z"


def test_webhook_text_escapes_mattermost_markdown_and_mentions(hook: tuple[HookState, str]) -> None:
    state, url = hook
    post_webhook(url, render_webhook(digest(MATTERMOST_MARKUP)))
    body = json.loads(state.bodies[0])
    line = body["text"].splitlines()[1]
    wj = "\u2060"
    assert line.startswith("• \\*\\*Breaking\\*\\* ")
    for sigil in ("@channel", "@all", "~town-square", "#parade"):
        assert sigil not in line and f"{sigil[0]}{wj}{sigil[1:]}" in line
    assert "\\[TASS\\](https://evil.example)" in line and "!\\[x\\]" in line
    assert "\\`x\\`" in line and "\\_y\\_" in line and "\\|" in line
    # what a reader sees once the escapes are read: the title as typed
    shown = line.replace(wj, "").replace("\\", "")
    assert MATTERMOST_MARKUP in shown
    assert body["stories"][0]["title"] == MATTERMOST_MARKUP  # the structured field stays plain text


def test_webhook_payload_carries_at_most_max_stories(hook: tuple[HookState, str]) -> None:
    state, url = hook
    d = digest(*(f"Parade report {n}" for n in range(1, 13)))
    post_webhook(url, render_webhook(d, max_stories=5))
    body = json.loads(state.bodies[0])
    assert [s["item_id"] for s in body["stories"]] == [1, 2, 3, 4, 5]  # the highest-scoring
    assert body["stories_omitted"] == 7 and body["count"] == 12
    assert render_webhook(d)["stories_omitted"] == 0


def test_a_test_digest_does_not_share_the_real_digests_message_id() -> None:
    d = digest("Parade", "Fireworks")
    real = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x")
    test = build_email(d, from_addr="m@example.org", to=["a@example.org"], list_id="x", channel="test-email:1")
    assert real["Message-ID"] != test["Message-ID"]
