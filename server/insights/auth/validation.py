"""Field checks for the authentication requests; every problem is reported with its field."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from insights.auth.passwords import password_policy_violations
from insights.auth.permissions import ALL_PERMISSIONS, ROLES
from insights.errors import FieldViolation


class Violations(list[FieldViolation]):
    def add(self, field: str, description: str) -> None:
        self.append(FieldViolation(field, description))

    def email(self, field: str, value: str) -> str:
        if not value.strip():
            self.add(field, "is required")
            return ""
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            self.add(field, f"is not a valid email address ({exc})")
            return ""

    def password(self, field: str, value: str) -> None:
        problems = password_policy_violations(value)
        if problems:
            self.add(field, "must contain " + ", ".join(problems))

    def text(self, field: str, value: str, max_length: int) -> str:
        value = value.strip()
        if not value:
            self.add(field, "is required")
        elif len(value) > max_length:
            self.add(field, f"must be at most {max_length} characters")
        return value

    def role(self, field: str, value: str) -> None:
        if value not in ROLES:
            self.add(field, f"must be one of {', '.join(ROLES)}")

    def permissions(self, field: str, values: list[str], allowed: frozenset[str] = ALL_PERMISSIONS) -> None:
        for index, permission in enumerate(values):
            if permission not in allowed:
                self.add(f"{field}[{index}]", f"unknown or not grantable permission {permission!r}")
