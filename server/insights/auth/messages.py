"""The mail the account flows send: plain text, one link each, nothing that a stranger could use.

No text chosen by whoever asked for the mail (names, organization names) goes into it: a sign-up can
name any address, and its owner must not receive words of the requester's choosing.

Links point at the dashboard (``mail.public_url``), which posts the token to the API
(``POST /api/auth/verify-email``, ``POST /api/auth/password-reset/confirm``).
"""

from __future__ import annotations

from urllib.parse import quote

from insights.infra.mail import MailMessage
from insights.settings import MailSettings


def _hours(seconds: int) -> str:
    hours = max(1, round(seconds / 3600))
    return "1 hour" if hours == 1 else f"{hours} hours"


class Messages:
    def __init__(self, settings: MailSettings) -> None:
        self._base = settings.public_url.rstrip("/")

    def _link(self, page: str, token: str) -> str:
        return f"{self._base}/{page}?token={quote(token)}"

    def verification(self, to: str, token: str, ttl_s: int) -> MailMessage:
        return MailMessage(
            to=to,
            subject="Confirm your email to finish signing up",
            kind="verification",
            body=(
                "Hello,\n\n"
                "someone (we hope you) signed up for Customer Insights with this address. To create the account, "
                f"open this link within {_hours(ttl_s)}:\n\n"
                f"{self._link('verify-email', token)}\n\n"
                "If you did not sign up, ignore this message: no account is created without this link.\n"
            ),
        )

    def account_exists(self, to: str) -> MailMessage:
        return MailMessage(
            to=to,
            subject="Someone tried to sign up with your address",
            kind="account_exists",
            body=(
                "Hello,\n\n"
                "someone tried to sign up for Customer Insights with this address, but it already belongs to an "
                "account. Nothing was changed.\n\n"
                f"If it was you: sign in at {self._base}/login, or set a new password at "
                f"{self._base}/forgot-password.\n"
                "If it was not you, you need not do anything.\n"
            ),
        )

    def password_reset(self, to: str, token: str, ttl_s: int) -> MailMessage:
        return MailMessage(
            to=to,
            subject="Reset your password",
            kind="password_reset",
            body=(
                "Hello,\n\n"
                f"to set a new password, open this link within {_hours(ttl_s)}. It works once; setting the "
                "password signs you out everywhere.\n\n"
                f"{self._link('reset-password', token)}\n\n"
                "If you did not ask for this, ignore this message: your password stays as it is.\n"
            ),
        )
