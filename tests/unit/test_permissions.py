"""The subset rule on the whole lattice: roles x every subset of extra permissions x every caller's permissions.

``tests/integration/test_grants.py`` checks the same rule through the service (every caller kind, real
PostgreSQL); this is the rule itself, exhaustively where that is cheap and with Hypothesis elsewhere."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from insights.auth.lockout import source_of
from insights.auth.permissions import ALL_PERMISSIONS, ROLE_PERMISSIONS, ROLES, beyond, beyond_role

PERMISSIONS = sorted(ALL_PERMISSIONS)
subsets = st.frozensets(st.sampled_from(PERMISSIONS))


def _powerset(items: list[str]) -> list[frozenset[str]]:
    return [frozenset(c) for n in range(len(items) + 1) for c in itertools.combinations(items, n)]


@given(holder=subsets, role=st.sampled_from(ROLES), extra=subsets)
def test_a_user_may_be_granted_exactly_what_the_grantor_holds(holder: frozenset[str], role: str,
                                                               extra: frozenset[str]) -> None:
    missing = beyond_role(holder, role, extra)
    assert missing == (ROLE_PERMISSIONS[role] | extra) - holder
    assert (not missing) == (ROLE_PERMISSIONS[role] | extra <= holder)


def test_each_role_creates_exactly_the_roles_below_or_equal_to_it() -> None:
    # Every caller that a role (with or without extras) can be, against every role and extra set.
    for caller_role, caller_extra in itertools.product(ROLES, _powerset(PERMISSIONS)):
        holder = ROLE_PERMISSIONS[caller_role] | caller_extra
        for role in ROLES:
            allowed = beyond_role(holder, role) == frozenset()
            assert allowed == (ROLE_PERMISSIONS[role] <= holder), (caller_role, caller_extra, role)
    # In particular: users:manage alone never makes an admin, and an admin can make anyone.
    analyst_manager = ROLE_PERMISSIONS["analyst"] | {"users:manage"}
    assert beyond_role(analyst_manager, "admin") == {"customers:manage", "apikeys:manage"}
    assert all(not beyond_role(ROLE_PERMISSIONS["admin"], role, ALL_PERMISSIONS) for role in ROLES)


@given(holder=subsets, wanted=subsets)
def test_a_key_may_carry_exactly_what_its_creator_holds(holder: frozenset[str], wanted: frozenset[str]) -> None:
    assert beyond(holder, wanted) == wanted - holder
    assert not beyond(holder, holder)


def test_failures_count_against_an_address_and_ipv6_against_its_64() -> None:
    assert source_of("203.0.113.7") == "203.0.113.7"
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert source_of("unix:/tmp/socket") == "unix:/tmp/socket"
