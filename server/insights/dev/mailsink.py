"""A real SMTP server on loopback that keeps what it receives: the mail of `make up` and of the tests.

The server sends its mail over SMTP exactly as in production; this sink (aiosmtpd, in a thread of its
own) accepts it, keeps every message in memory, can write each one under a directory as ``.eml``, and
calls back with each message (``make up`` prints the links on the console). Nothing here is used by
the server itself.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class ReceivedMail:
    to: tuple[str, ...]
    subject: str
    body: str

    @property
    def links(self) -> list[str]:
        return _LINK.findall(self.body)

    @property
    def token(self) -> str | None:
        """The ``token`` query parameter of the message's first link that has one."""
        for link in self.links:
            match = re.search(r"[?&]token=([^&\s]+)", link)
            if match:
                from urllib.parse import unquote

                return unquote(match.group(1))
        return None


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        self._sink.received(ReceivedMail(tuple(envelope.rcpt_tos), str(message["Subject"] or ""), text),
                            envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, port: int, *, directory: Path | None = None,
                 on_message: Callable[[ReceivedMail], None] | None = None) -> None:
        self.port = port
        self._directory = directory
        self._on_message = on_message
        self._messages: list[ReceivedMail] = []
        self._count = 0
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port)

    def start(self) -> MailSink:
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def received(self, mail: ReceivedMail, raw: bytes) -> None:
        # Written and announced before it is listed: whoever sees it in ``messages`` finds the file and the
        # console line already there.
        with self._lock:
            self._count += 1
            count = self._count
            if self._directory is not None:
                (self._directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{count:04d}.eml").write_bytes(raw)
            if self._on_message is not None:
                self._on_message(mail)
            self._messages.append(mail)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[ReceivedMail]:
        """Every message received for ``address`` (case-insensitive), oldest first."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.to)]

    def wait_for(self, address: str, subject: str = "", *, after: int = 0, timeout_s: float = 15.0) -> ReceivedMail:
        """The first message for ``address`` whose subject contains ``subject``, skipping the first ``after``
        such messages; polls until it has arrived."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [m for m in self.to(address) if subject.lower() in m.subject.lower()]
            if len(found) > after:
                return found[after]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no mail {subject!r} for {address} within {timeout_s}s")
            time.sleep(0.05)
