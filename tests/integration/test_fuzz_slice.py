"""A 2,000-request slice of the edge fuzzer (tests/fuzz_edge.py, seed 1: always the same requests), so
that every `make test` sends what the recorded 100,000-request run sent first (benchmarks/fuzz/)."""

from __future__ import annotations

from tests.fuzz_edge import Fuzzer, crashes, credentials, envoy_flags, utc_now
from tests.support import Stack

SLICE = 2_000
SEED = 1


def test_a_slice_of_the_edge_fuzzer_gets_no_500_and_no_unexplained_5xx(open_stack: Stack) -> None:
    crashed_before = crashes(open_stack)
    log_start = utc_now()
    fuzzer = Fuzzer(open_stack.url, open_stack.grpc_target, credentials(open_stack), seed=SEED)
    tally = fuzzer.run(SLICE, threads=16)
    summary = "\n".join(f"{count:>6}  {outcome}" for outcome, count in tally.counts.most_common())
    assert sum(tally.counts.values()) == SLICE
    assert tally.bad_count == 0, summary + "\n" + "\n".join(tally.bad)
    assert crashes(open_stack) == crashed_before, open_stack.server_log()[-5000:]
    # Every 5xx Envoy answered is one the tally explained (501 unimplemented, 503 with retry-after).
    unexplained = {k: v for k, v in envoy_flags(open_stack, log_start).items() if not k.startswith("501 ")}
    assert all(" UO " in k or " - via_upstream" in k for k in unexplained), unexplained
