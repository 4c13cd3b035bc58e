"""Settings (settings.py): nested environment names, the unprefixed URL aliases, a docstring on every
field, and README's configuration table generated from them (so the README cannot drift)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from insights.settings import Settings, markdown_table, variables

README = Path(__file__).resolve().parents[2] / "README.md"
ALIASES = ("DATABASE_URL", "REDIS_URL", "TRITON_URL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees only the variables it sets (not the developer's or CI's)."""
    for name in list(os.environ):
        if name.startswith("INSIGHTS_") or name in ALIASES:
            monkeypatch.delenv(name)
    yield


def test_defaults_without_environment() -> None:
    """With nothing set, the documented defaults apply."""
    settings = Settings()
    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/insights"
    assert settings.triton_url is None
    assert settings.db.pool_max_size == 20 and settings.rate_limit.auth_ip_per_minute == 5


@pytest.mark.parametrize(
    ("name", "value", "path", "parsed"),
    [
        ("INSIGHTS_DB__POOL_MAX_SIZE", "40", ("db", "pool_max_size"), 40),
        ("INSIGHTS_RATE_LIMIT__AUTH_IP_PER_MINUTE", "7", ("rate_limit", "auth_ip_per_minute"), 7),
        ("INSIGHTS_WORKER__ENABLED", "false", ("worker", "enabled"), False),
        ("INSIGHTS_STREAM__HEARTBEAT_S", "2.5", ("stream", "heartbeat_s"), 2.5),
        ("INSIGHTS_NETWORK__TRUSTED_PROXIES", '["10.0.0.0/8"]', ("network", "trusted_proxies"), ["10.0.0.0/8"]),
        ("INSIGHTS_REDIS__KEY_PREFIX", "run-1:", ("redis", "key_prefix"), "run-1:"),
        ("INSIGHTS_LOG_LEVEL", "DEBUG", ("log_level",), "DEBUG"),
    ],
)
def test_nested_environment_names(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, path: tuple[str, ...], parsed: Any
) -> None:
    """A group's field is INSIGHTS_<GROUP>__<FIELD>; lists are JSON."""
    monkeypatch.setenv(name, value)
    assert _get(Settings(), path) == parsed


def test_single_underscore_names_of_the_old_flat_layout_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """INSIGHTS_DB_POOL_MAX_SIZE (one underscore) is not a setting: it changes nothing."""
    monkeypatch.setenv("INSIGHTS_DB_POOL_MAX_SIZE", "40")
    assert Settings().db.pool_max_size == 20


def test_an_invalid_value_is_refused_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value of the wrong type stops start-up with an error naming the field."""
    monkeypatch.setenv("INSIGHTS_DB__POOL_MAX_SIZE", "many")
    with pytest.raises(ValueError, match="pool_max_size"):
        Settings()


@pytest.mark.parametrize(("alias", "field"), [("DATABASE_URL", "database_url"), ("REDIS_URL", "redis_url"),
                                              ("TRITON_URL", "triton_url")])
def test_url_aliases_are_read_without_the_prefix(monkeypatch: pytest.MonkeyPatch, alias: str, field: str) -> None:
    """DATABASE_URL, REDIS_URL and TRITON_URL work bare; the prefixed name wins when both are set."""
    monkeypatch.setenv(alias, "unprefixed://host:1")
    assert getattr(Settings(), field) == "unprefixed://host:1"
    monkeypatch.setenv(f"INSIGHTS_{alias}", "prefixed://host:2")
    assert getattr(Settings(), field) == "prefixed://host:2", "the prefixed name wins when both are set"


def test_every_field_has_a_docstring() -> None:
    """Every field's docstring becomes its Meaning column: none may be empty."""
    found = variables()
    assert found
    assert [v.names for v in found if not v.doc.strip()] == []


def test_every_listed_variable_names_a_real_field() -> None:
    """Each name in the table is one Settings reads (INSIGHTS_<GROUP>__<FIELD> resolves to an attribute),
    and every field is listed once."""
    settings = Settings()
    for variable in variables():
        for name in variable.names:
            if name not in ALIASES:
                _get(settings, tuple(part.lower() for part in name.removeprefix("INSIGHTS_").split("__")))
    names = [n for v in variables() for n in v.names]
    assert len(names) == len(set(names))
    assert len(variables()) == len(_leaf_fields(Settings))


def test_secrets_are_not_shown() -> None:
    """The table shows no secret's value."""
    secret = next(v for v in variables() if v.names == ("INSIGHTS_AUTH__JWT_SECRET",))
    assert secret.default == "a development value"
    assert Settings().auth.jwt_secret.get_secret_value() not in markdown_table()


def test_readme_configuration_table_is_the_generated_one() -> None:
    """README's table is exactly ``python -m insights.settings``: regenerate it when a setting changes."""
    section = README.read_text().split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables = re.findall(r"^\|.*\|$(?:\n^\|.*\|$)*", section, re.M)
    assert tables == [markdown_table()], "README.md's configuration table is stale: paste `python -m insights.settings`"


def _get(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


def _leaf_fields(model: type[BaseModel]) -> list[str]:
    leaves = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            leaves += [f"{name}.{leaf}" for leaf in _leaf_fields(field.annotation)]
        else:
            leaves.append(name)
    return leaves
