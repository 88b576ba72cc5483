"""``bench.protocol_ab``: both variants serve the bare app and ``qs gateway``'s launcher, and
the A/B sections are registered with their sizes."""

from __future__ import annotations

import shutil

import httpx
import pytest

from bench import protocol_ab, transport_ab
from bench.__main__ import BENCHMARKS, parse_args
from local import cli
from tests.servers import serve


@pytest.mark.parametrize("variant", list(protocol_ab.VARIANTS))
def test_the_bare_app_answers_like_the_gateway_on_either_protocol(variant: str) -> None:
    with serve(protocol_ab.bare_app, protocol_ab.VARIANTS[variant]) as url:
        for _ in range(3):  # one keep-alive connection, several requests
            answer = httpx.post(url + "/api/schedule-sms", content=b'{"phoneNumber": "+1"}')
            assert answer.status_code == 202 and answer.content == protocol_ab.BARE_BODY


def test_the_gateway_runs_stock_httptools_and_the_ab_swaps_in_the_challenger() -> None:
    assert cli.GATEWAY_HTTP == "httptools" == protocol_ab.VARIANTS["stock"]
    assert protocol_ab.VARIANTS["coalescing"].startswith("bench.coalescing_protocol:")
    argv = protocol_ab.bare_argv("coalescing", 8123, 3)
    assert argv[argv.index("--http") + 1] == protocol_ab.VARIANTS["coalescing"]
    assert protocol_ab.gateway_argv("stock", 8123, ["--workers", "2"])[-5:] == [
        "stock", "--port", "8123", "--workers", "2",
    ]  # fmt: skip
    assert protocol_ab.main(["gateway", "h2"]) == 2  # no such variant: usage, nothing started


def test_both_ab_sections_run_with_python_m_bench_only_and_take_their_sizes() -> None:
    assert BENCHMARKS[transport_ab.NAME] is transport_ab.run
    assert BENCHMARKS[protocol_ab.NAME] is protocol_ab.run
    _, cfg = parse_args(["--quick", "--only", "protocol_ab", "--protocol-ab-s", "1"])
    try:
        assert (cfg.ab_rounds, cfg.ab_callbacks, cfg.ab_drain_n) == (3, 2_000, 4_000)
        assert (cfg.protocol_ab_rounds, cfg.protocol_ab_s) == (6, 1)
    finally:
        shutil.rmtree(cfg.workdir)
