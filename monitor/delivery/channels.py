"""Delivery channels: email (SMTP), webhook (JSON POST) and files (atomic write).

Each send function returns on success and raises :class:`DeliveryError` on
failure; ``transient`` tells the caller's delivery ledger whether to keep the
digest pending and retry with backoff (True) or give up and report (False).

Mail safety: every header value built from untrusted content is reduced to
one line without control or format characters, and RFC 2047 encoded-word
markers (``=?`` / ``?=``) are broken up *before* the header is set, so that
neither CR/LF nor an encoded ``=0A`` can reach a header (CVE-2024-6923 affects
the email package of Python 3.11.7).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import html as html_escaping
import logging
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

import httpx

from monitor import DeliveryError, __version__
from monitor.config.credentials import secret
from monitor.delivery.digest import Digest
from monitor.delivery.render import clean_line, ordered_stories, render_html, render_text, safe_url, truncate
from monitor.ingest.fetch import parse_retry_after
from monitor.store import write_atomic

log = logging.getLogger(__name__)

#: Serialisation policy: CRLF line ends, lines folded at 78 characters.
MAIL_POLICY = email_policy.SMTP.clone(max_line_length=78)
SUBJECT_MAX = 160  # characters of the whole subject
_TITLE_MAX = 110  # characters of the top story's title within the subject
SECURITY_MODES = ("none", "starttls", "ssl")
SMTP_DEADLINE = 120.0  # seconds for a whole SMTP session (connect to QUIT), however the server drips
WEBHOOK_DEADLINE = 30.0  # seconds for a whole webhook call (connect to the last byte of the answer)


class _SmtpBlock(Protocol):  # read-only members: config's SmtpConfig is a frozen dataclass
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def security(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def from_addr(self) -> str: ...


@dataclass
class SmtpSettings:
    """The ``smtp:`` block of config.yaml (the password never comes from YAML)."""

    host: str
    port: int
    security: str  # "none" | "starttls" | "ssl"
    username: str | None
    from_addr: str
    password: str | None = None  # None: read with smtp_password() when a username is set
    timeout: float = 30.0
    ca_file: str | None = None  # extra CA bundle (e.g. a private relay's certificate)
    deadline: float = SMTP_DEADLINE  # the whole session, not per read (a tarpit answers a byte at a time)

    @classmethod
    def from_config(cls, smtp: _SmtpBlock, password: str | None = None) -> SmtpSettings:
        """Settings from config.yaml's ``smtp:`` block (monitor.config.SmtpConfig)."""
        return cls(host=smtp.host, port=smtp.port, security=smtp.security, username=smtp.username,
                   from_addr=smtp.from_addr, password=password)


def smtp_password(env: Mapping[str, str] = os.environ) -> str | None:
    """MONITOR_SMTP_PASSWORD, else the file $CREDENTIALS_DIRECTORY/smtp-password (systemd LoadCredential)."""
    return secret("MONITOR_SMTP_PASSWORD", "smtp-password", env)


# --- headers -----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?|\?=")


def header_text(value: object, max_len: int | None = None) -> str:
    """Untrusted text made safe for a header: one line, no controls, no encoded-word markers."""
    text = clean_line(value)
    # Break every "=?" and "?=" so no RFC 2047 encoded word can be formed (or decoded into CR/LF).
    while _ENCODED_WORD.search(text):
        text = _ENCODED_WORD.sub(lambda m: "= ?" if m.group(0).startswith("=") else "? =", text)
    if max_len is not None:
        text = truncate(text, max_len)
    return text


def _address(value: str) -> Address:
    """One recipient or sender ("a@b" or "Name <a@b>"); raises ValueError on anything odd."""
    if any(ch in value for ch in "\r\n\0") or clean_line(value) != value.strip():
        raise ValueError(f"invalid e-mail address: {value!r}")
    name, addr = parseaddr(value)
    if not addr or addr.count("@") != 1 or "=?" in value or any(c in addr for c in " <>,;\"'\\"):
        raise ValueError(f"invalid e-mail address: {value!r}")
    try:
        return Address(display_name=header_text(name), addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"invalid e-mail address: {value!r}") from exc


def _list_id(list_id: str) -> str:
    lid = re.sub(r"[^A-Za-z0-9.-]+", "-", list_id.strip().strip("<>")).strip(".-") or "digest"
    if "." not in lid:
        lid += ".news-monitor.localhost"
    return lid


def email_subject(d: Digest) -> str:
    """``[watchlist] N stories: <top title> (+M more)``, at most SUBJECT_MAX characters."""
    name = header_text(d.title or d.watchlist, 40)
    stories = ordered_stories(d)
    if not stories:
        return header_text(f"[{name}] nothing matched", SUBJECT_MAX)
    count = f"{len(stories)} {'story' if len(stories) == 1 else 'stories'}"
    top = header_text(stories[0].title, _TITLE_MAX) or "(untitled)"
    more = f" (+{len(stories) - 1} more)" if len(stories) > 1 else ""
    return header_text(f"[{name}] {count}: {top}{more}", SUBJECT_MAX)


def _message_id(d: Digest, domain: str, channel: str = "email") -> str:
    """From what the digest carries (watchlist, channel, item ids), never from the time it was made:
    a digest retried after a lost acknowledgement goes out under the same Message-ID."""
    ids = ",".join(str(i) for i in sorted(s.item_id for s in d.stories))
    key = "\0".join([d.watchlist, channel, ids])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"<digest.{digest}@{domain}>"


SUPPRESSED_MAX = 50  # suppressed entries listed in one mail


@dataclass(frozen=True)
class MailCaps:
    """What one digest mail may carry; ``elsewhere`` says where the rest can be read."""

    max_stories: int = 50
    max_bytes: int = 1_000_000
    elsewhere: str = ""


def omitted_note(shown: int, total: int, caps: MailCaps, watchlist: str) -> str:
    """The line that opens a capped mail: what was left out and where to find it."""
    where = caps.elsewhere or "the Markdown digest"
    return (f"This mail carries the {shown} highest-scoring of {total} stories (limits: email.max_stories "
            f"{caps.max_stories}, email.max_bytes {caps.max_bytes}). The other {total - shown} are in {where}; "
            f"`monitor watchlist test {watchlist}` lists every match.")


def _with_note(text: str, html_doc: str | None, note: str) -> tuple[str, str | None]:
    text = note + "\n\n" + text
    if html_doc is not None:
        para = ('<p style="margin:12px;padding:8px;background:#fff3cd;font-family:sans-serif;">'
                + html_escaping.escape(note) + "</p>")
        m = re.search(r"<body[^>]*>", html_doc)
        html_doc = html_doc[:m.end()] + para + html_doc[m.end():] if m else para + html_doc
    return text, html_doc


def build_email(d: Digest, *, from_addr: str, to: list[str], list_id: str, html: bool = True,
                date: datetime | None = None, caps: MailCaps | None = None, channel: str = "email") -> EmailMessage:
    """A multipart/alternative (text + HTML) digest message; header values are sanitised first.

    The Message-ID is derived from the digest's contents (watchlist, channel, item ids), so a
    retried digest keeps its Message-ID (``channel`` tells apart messages about the same items
    that are not retries, such as a test digest). With ``caps`` the message carries at most
    ``caps.max_stories`` stories (the highest-scoring) and ``caps.max_bytes`` bytes, and says
    at the top what was left out and where it is. Raises ValueError for malformed addresses.
    """
    if not to:
        raise ValueError("no recipients")
    sender = _address(from_addr)
    recipients = [_address(a) for a in to]
    domain = re.sub(r"[^A-Za-z0-9.-]", "", sender.domain) or "news-monitor.localhost"
    when = date or datetime.now(timezone.utc)
    if caps is None:
        return _compose(d, d, sender, recipients, list_id, html, when, domain, None, channel)
    stories = ordered_stories(d)
    n = min(len(stories), caps.max_stories)
    keep_html = html
    while True:
        shown = replace(d, stories=stories[:n], suppressed=d.suppressed[:SUPPRESSED_MAX])
        note = omitted_note(n, len(stories), caps, d.watchlist) if n < len(stories) else None
        msg = _compose(d, shown, sender, recipients, list_id, keep_html, when, domain, note, channel)
        size = len(msg.as_bytes())
        if size <= caps.max_bytes:
            return msg
        if n == 0:
            if keep_html:
                keep_html = False  # last resort: the plain-text part alone
                continue
            return msg  # only headers and the note are left; the relay decides
        n = max(0, min(n - 1, int(n * caps.max_bytes / size * 0.95)))


def _compose(full: Digest, shown: Digest, sender: Address, recipients: list[Address], list_id: str,
             html_part: bool, when: datetime, domain: str, note: str | None, channel: str) -> EmailMessage:
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = email_subject(full)
    msg["From"] = sender
    msg["To"] = recipients
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = _message_id(full, domain, channel)
    title = header_text(full.title or full.watchlist, 60).replace('"', "'").replace("\\", "/")
    msg["List-Id"] = f'"{title}" <{_list_id(list_id)}>'
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailer"] = f"news-monitor {__version__}"
    text, html_doc = render_text(shown), (render_html(shown) if html_part else None)
    if note:
        text, html_doc = _with_note(text, html_doc, note)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html_doc is not None:
        msg.add_alternative(html_doc, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


# --- SMTP --------------------------------------------------------------------


def _code_error(what: str, code: int, text: object) -> DeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return DeliveryError(f"{what}: {code} {clean_line(detail)}", transient=400 <= code < 500, code=code)


def send_email(msg: EmailMessage, settings: SmtpSettings) -> None:
    """Send with smtplib (plain, STARTTLS or implicit TLS; AUTH when a username is set).

    Raises DeliveryError: transient for network errors, timeouts and 4xx replies,
    permanent for 5xx replies, refused authentication and configuration errors.
    """
    if settings.security not in SECURITY_MODES:
        raise DeliveryError(f"smtp.security must be one of {', '.join(SECURITY_MODES)}, "
                            f"not {settings.security!r}", transient=False)
    password = settings.password
    if settings.username and password is None:
        password = smtp_password()
        if password is None:
            raise DeliveryError("smtp.username is set but no password: set MONITOR_SMTP_PASSWORD or "
                                "provide $CREDENTIALS_DIRECTORY/smtp-password", transient=False)
    envelope_from = parseaddr(settings.from_addr)[1] or settings.from_addr
    where = f"{settings.host}:{settings.port}"
    guard: _SessionDeadline | None = None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        helo = socket.gethostname() or "localhost"
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(local_hostname=helo, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(local_hostname=helo, timeout=settings.timeout)
        smtp._host = settings.host  # type: ignore[attr-defined]  # as SMTP(host) would set it: the TLS server name to verify
        guard = _SessionDeadline(smtp, settings.deadline)  # started before connect: a tarpit delays the greeting
        with guard, smtp:
            smtp.connect(settings.host, settings.port)
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, password or "")
            refused = smtp.send_message(msg, from_addr=envelope_from)
    except Exception as exc:
        if guard is not None and guard.expired:
            raise DeliveryError(f"SMTP {where}: no complete session within {settings.deadline:.0f} s "
                                "(the server answers too slowly)", transient=True) from exc
        _raise_smtp_error(exc, where)
    if refused:
        log.warning("SMTP %s refused some recipients (the others got the digest): %s", where,
                    "; ".join(f"{r}: {c}" for r, (c, _) in refused.items()))


class _SessionDeadline:
    """Ends an SMTP session that runs past ``deadline`` seconds in all (shuts its socket down
    from a timer thread, which wakes the blocked read)."""

    def __init__(self, smtp: smtplib.SMTP, deadline: float) -> None:
        self.smtp = smtp
        self.expired = False
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> _SessionDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _raise_smtp_error(exc: BaseException, where: str) -> None:
    """Map an smtplib/socket error to DeliveryError (re-raise anything else)."""
    try:
        raise exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(400 <= c < 500 for c in codes)
        raise DeliveryError(f"SMTP {where} refused every recipient: "
                            + "; ".join(f"{r}: {c}" for r, (c, _) in exc.recipients.items()),
                            transient=transient, code=codes[0] if codes else None) from exc
    except smtplib.SMTPResponseException as exc:
        raise _code_error(f"SMTP {where} {type(exc).__name__}", exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"SMTP {where}: {exc} (check smtp.security)", transient=False) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryError(f"SMTP {where} disconnected: {exc}", transient=True) from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(f"SMTP {where}: TLS certificate not trusted: {exc.verify_message} "
                            "(fix the server certificate or set smtp.ca_file)", transient=False) from exc
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"SMTP {where}: {exc}", transient=False) from exc
    except OSError as exc:  # refused, reset, timeout, DNS failure, TLS handshake errors
        raise DeliveryError(f"SMTP {where} unreachable: {exc or type(exc).__name__}", transient=True) from exc


# --- webhook -------------------------------------------------------------------


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0,
                 deadline: float = WEBHOOK_DEADLINE) -> None:
    """POST ``payload`` as JSON; 2xx is success.

    Raises DeliveryError: transient for network errors, timeouts, 408, 425, 429 and 5xx
    (``retry_after`` from a Retry-After header), permanent for other answers.
    """
    target = safe_url(url)
    if target is None:
        raise DeliveryError(f"webhook URL must be http(s): {clean_line(url)!r}", transient=False)
    try:
        response = _post_within(target, payload, timeout, deadline)
    except TimeoutError as exc:
        raise DeliveryError(f"webhook {target}: no complete answer within {deadline:.0f} s", transient=True) from exc
    except httpx.TransportError as exc:  # connect/read errors and timeouts
        raise DeliveryError(f"webhook {target} unreachable: {type(exc).__name__}: {exc}", transient=True) from exc
    status = response.status_code
    if 200 <= status < 300:
        return
    body = clean_line(response.text[:200])
    transient = status in (408, 425, 429) or status >= 500
    raise DeliveryError(f"webhook {target} answered HTTP {status}: {body}", transient=transient, code=status,
                        retry_after=parse_retry_after(response.headers.get("Retry-After")) if transient else None)


def _post_within(target: str, payload: dict[str, Any], timeout: float, deadline: float) -> httpx.Response:
    """POST with a deadline on the whole call (httpx's timeouts are per read: a server that
    drips its answer a byte at a time would hold the caller for ever). Raises TimeoutError."""
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            async with asyncio.timeout(deadline):
                response = await client.post(target, json=payload,
                                             headers={"User-Agent": f"news-monitor/{__version__}"})
                await response.aread()
                return response

    return asyncio.run(post())


# --- files -------------------------------------------------------------------

_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EAGAIN, errno.EINTR}
_ERRNO_HINTS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.ENOENT: "directory does not exist",
}


def write_file_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text so that ``path`` holds either the old or the complete new content.

    ``monitor.store.atomic.write_atomic`` does the temp file, fsync and rename; an OSError becomes
    DeliveryError (transient for disk full, quota and read-only FS).
    """
    path = Path(path)
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        reason = _ERRNO_HINTS.get(exc.errno or 0, exc.strerror or str(exc))
        raise DeliveryError(f"cannot write {path}: {reason}", transient=exc.errno in _TRANSIENT_ERRNOS,
                            code=exc.errno) from exc
