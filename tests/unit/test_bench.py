"""The benchmark's own parts (bench/): its Redis, its tables, its options, the cold-path harness.
No figure is checked here (speed is measured by hand, not in tests)."""

from __future__ import annotations

import pytest
import redis

from bench import cold
from bench.run import Row, comparisons, main, redis_server
from tests.conftest import _redis_binary


def test_redis_server_answers_then_is_gone() -> None:
    _redis_binary()  # skipped (or failed in CI) without redis-server
    with redis_server(cpu="0") as url:
        client = redis.Redis.from_url(url)
        client.set("k", b"v")
        assert client.get("k") == b"v"
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
    gone = redis.Redis.from_url(url, socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        gone.ping()


def _row(case: str, store: str, rps: float, p50: float, pair: tuple[str, str]) -> Row:
    return Row(case, 25, "v", rps, p50, p50 * 2, 0.0, 80, store=store, pair=pair)


def test_comparisons_pair_each_redis_row_with_its_memory_row() -> None:
    rows = [
        _row("(b) hit", "memory", 1000, 10, pair=("b", "compiled")),
        _row("(b) hit", "memory", 100, 90, pair=("b", "graphql-core")),  # no Redis twin
        _row("(b) hit", "redis", 800, 12.5, pair=("b", "compiled")),
        _row("(c) repeated", "redis", 5000, 4, pair=("c", "cached")),  # no memory twin
        _row("(f) miss path", "redis", 50, 300, pair=("b", "compiled")),
    ]
    table = [line for line in comparisons(rows) if line.startswith("| (")]
    assert table == [
        "| (b) hit | 25 | 1,000 | 800 | 80% | 10.00 | 12.50 | 1.2x | 20.00 | 25.00 |",
        "| (f) miss path | 25 | 1,000 | 50 | 5% | 10.00 | 300.00 | 30.0x | 20.00 | 600.00 |",
    ]
    assert comparisons([r for r in rows if r.store == "redis"]) == []


@pytest.mark.parametrize(
    "argv", [["--cases", "b,x"], ["--stores", "disk"], ["--items", "10"], ["--cases", ","]]
)
def test_unknown_subsets_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert "choose from" in capsys.readouterr().err


async def test_cold_path_misses_every_time_and_times_every_stage() -> None:
    stages = await cold.measure(requests=3, warmup=1)
    assert len(stages.requests) == 3  # the warm-up is left out
    for request in stages.requests:
        assert {"answer", "upstream", "parse", "cache", "execute", "serialise", "total"} <= set(
            request
        )
        assert request["total"] >= request["execute"] >= request["upstream"] >= request["parse"]
        assert request["upstream"] >= request["answer"]
    assert "| facade CPU beyond the upstream's answer |" in cold.render(stages, "memory")
