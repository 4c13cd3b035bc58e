"""Fixtures live in plugin modules by concern (tests/fixtures/); tests are split into ``unit`` (in
process, no server, fast) and ``integration`` (real PostgreSQL, Redis, Envoy, Triton processes)."""

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.mail", "tests.fixtures.stack"]
