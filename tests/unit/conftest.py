"""The unit layer runs in process: no server, no Envoy, no PostgreSQL, no Redis.

That is enforced here rather than hoped for: every unit test runs with TCP connections and psycopg
connections refused, and fails if it so much as tried one (even when the code under test swallowed the
error and took a fallback path).
"""

from __future__ import annotations

import importlib
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from insights.infra.logging import configure_logging

# The server's own log configuration (JSON lines): without it structlog's development renderer draws
# rich tracebacks, which costs more than the tests that log a crash on purpose.
configure_logging("INFO")


class NetworkAccessInUnitTest(RuntimeError):
    """A unit test tried to reach a service over the network."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(target: object) -> NetworkAccessInUnitTest:
        attempts.append(repr(target))
        return NetworkAccessInUnitTest(f"unit tests must not connect to {target!r}")

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise refuse(address)
        return real_connect_ex(self, address)

    def database(*args: Any, **kwargs: Any) -> Any:
        raise refuse(args[1:] or kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    # libpq opens its sockets in C, out of the socket module's reach.
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(database))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(database))
    yield
    assert not attempts, f"a unit test tried to reach the network: {attempts}"


@pytest.fixture(scope="session")
def training_module() -> Callable[[str], ModuleType]:
    """Imports a module of the training package from the checkout: it is a distribution of its own, which the
    tests do not install (the modules tested here need none of its heavy dependencies)."""
    training = str(Path(__file__).resolve().parents[2] / "training")
    if training not in sys.path:
        sys.path.insert(0, training)

    def load(name: str) -> ModuleType:
        return importlib.import_module(f"insights_training.{name}")

    return load
