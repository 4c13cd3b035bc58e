"""Mail over real SMTP, in process: delivery to a local sink, failures, and the outbox's retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from insights.auth.messages import Messages
from insights.dev.mailsink import MailSink
from insights.infra.mail import MailMessage, MailUndeliverable, Outbox, SmtpMailSender
from insights.settings import MailSettings
from tests.support import free_port


@pytest.fixture
def sink() -> Iterator[MailSink]:
    running = MailSink(free_port()).start()
    yield running
    running.stop()


def _settings(port: int, host: str = "127.0.0.1") -> MailSettings:
    return MailSettings(host=host, port=port, tls="none", from_address="Insights <no-reply@insights.test>",
                        public_url="https://dashboard.example.com/")


async def test_a_reset_mail_arrives_as_plain_text_with_one_link(sink: MailSink) -> None:
    settings = _settings(sink.port)
    message = Messages(settings).password_reset("Owner@Example.com", "pr_secret+token/x", 3600)
    await SmtpMailSender(settings).send(message)
    received = await asyncio.to_thread(sink.wait_for, "owner@example.com", "Reset your password")
    assert received.links == ["https://dashboard.example.com/reset-password?token=pr_secret%2Btoken/x"]
    assert received.token == "pr_secret+token/x"
    assert "within 1 hour" in received.body


async def test_undeliverable_mail_is_an_error_the_outbox_retries_then_drops() -> None:
    closed = _settings(free_port())  # nobody listens there
    message = MailMessage("a@example.com", "s", "b", kind="test")
    with pytest.raises(MailUndeliverable):
        await SmtpMailSender(closed).send(message)
    with pytest.raises(MailUndeliverable, match="no SMTP server configured"):
        await SmtpMailSender(_settings(25, host="")).send(message)

    attempts: list[int] = []

    class Counting(SmtpMailSender):
        async def send(self, message: MailMessage) -> None:
            attempts.append(1)
            await super().send(message)

    outbox = Outbox(Counting(closed), retry_delays_s=(0.01, 0.01))

    async def job() -> MailMessage:
        return message

    outbox.later(job, "test")
    await outbox.close(timeout_s=30)
    assert len(attempts) == 3  # the first try and two retries, then the message is dropped


async def test_a_failing_job_sends_nothing_and_does_not_stop_the_outbox(sink: MailSink) -> None:
    outbox = Outbox(SmtpMailSender(_settings(sink.port)), retry_delays_s=())

    async def broken() -> MailMessage:
        raise RuntimeError("the database went away")

    async def nothing() -> None:
        return None

    async def fine() -> MailMessage:
        return MailMessage("b@example.com", "Hello", "body", kind="test")

    for job in (broken, nothing, fine):
        outbox.later(job, "test")
    await outbox.close(timeout_s=30)
    assert [m.to for m in sink.messages] == [("b@example.com",)]
