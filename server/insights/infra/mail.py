"""Outgoing mail: a ``MailSender`` protocol, its SMTP implementation, and an outbox that delivers in the background.

Mail carries sign-up links, notices and password-reset links. Messages are plain text. Nothing here
logs a message's body or recipient: links hold single-use secrets, and addresses are personal data.
The outbox sends after the request has been answered, so an answer never waits for the SMTP server
and its timing never depends on whether a message was sent. A message that fails is retried
(1, 2, 4 s) and then dropped with a warning; the person asks again.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from insights.infra.logging import get_logger
from insights.settings import MailSettings

log = get_logger(__name__)
RETRY_DELAYS_S = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str
    kind: str
    """What the message is (``verification``, ``account_exists``, ``password_reset``), for logs and metrics."""


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Delivers one message or raises."""


class MailUndeliverable(Exception):
    pass


class SmtpMailSender:
    """One SMTP connection per message (mail is rare: sign-ups and resets)."""

    def __init__(self, settings: MailSettings) -> None:
        self._s = settings

    def _envelope(self, message: MailMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._s.from_address
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.formatdate(usegmt=True)
        mail["Message-ID"] = email.utils.make_msgid(domain=email.utils.parseaddr(self._s.from_address)[1].partition(
            "@")[2] or "localhost")
        mail.set_content(message.body)
        return mail

    async def send(self, message: MailMessage) -> None:
        s = self._s
        if not s.host:
            raise MailUndeliverable("no SMTP server configured (INSIGHTS_MAIL__HOST)")
        try:
            await aiosmtplib.send(
                self._envelope(message), hostname=s.host, port=s.port, username=s.username or None,
                password=s.password.get_secret_value() if s.password else None, use_tls=s.tls == "tls",
                start_tls=s.tls == "starttls", timeout=s.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailUndeliverable(f"{type(exc).__name__}: {exc}") from None


class Outbox:
    """Runs delivery jobs after the answer has gone out; ``close`` waits for the ones still running."""

    def __init__(self, sender: MailSender, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self._sender = sender
        self._retry_delays_s = retry_delays_s
        self._running: set[asyncio.Task[None]] = set()

    def later(self, job: Callable[[], Awaitable[MailMessage | None]], what: str) -> None:
        """Runs ``job`` in the background and sends the message it returns (None: nothing to send)."""
        task = asyncio.get_running_loop().create_task(self._run(job, what))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, job: Callable[[], Awaitable[MailMessage | None]], what: str) -> None:
        try:
            message = await job()
        except Exception:
            log.exception("mail.job_failed", job=what)
            return
        if message is None:
            return
        for attempt, delay in enumerate((*self._retry_delays_s, None), start=1):
            try:
                await self._sender.send(message)
            except MailUndeliverable as exc:
                log.warning("mail.failed", kind=message.kind, attempt=attempt, error=str(exc))
                if delay is None:
                    return
                await asyncio.sleep(delay)
            else:
                log.info("mail.sent", kind=message.kind)
                return

    async def close(self, timeout_s: float = 10.0) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
        for task in set(self._running):
            task.cancel()
