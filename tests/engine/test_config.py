"""The engine's settings: flags over environment over defaults, and the scale-out defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction_engine.config import Config


def test_the_embedded_default_is_one_node_owning_every_lot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NODE_ID", "REDIS_URL", "REDIS_CLUSTER", "DATABASE_URL", "AUCTION_MIN_REPLICAS"):
        monkeypatch.delenv(name, raising=False)
    config = Config.from_env(data_dir=tmp_path)
    assert config.node_id is None and config.redis_url is None and not config.redis_cluster
    assert config.min_replicas == 0
    assert config.data_dir == tmp_path.resolve()


def test_a_cluster_node_reads_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ID", "n7")
    monkeypatch.setenv("REDIS_URL", "redis://:pw@127.0.0.1:7000/0")
    monkeypatch.setenv("REDIS_CLUSTER", "1")
    monkeypatch.setenv("AUCTION_LEASE_MS", "1500")
    monkeypatch.delenv("AUCTION_MIN_REPLICAS", raising=False)
    config = Config.from_env()
    assert (config.node_id, config.redis_cluster, config.lease_ms) == ("n7", True, 1500)
    assert config.min_replicas == 1  # on a Redis Cluster an ack waits for one replica by default


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ID", "from-env")
    monkeypatch.setenv("AUCTION_MIN_REPLICAS", "2")
    config = Config.from_env(node_id="from-flag", min_replicas=0)
    assert config.node_id == "from-flag" and config.min_replicas == 0


def test_the_sql_writer_is_a_process_unless_told_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUCTION_SQL_WRITER", raising=False)
    assert Config.from_env().sql_writer == "process"
    monkeypatch.setenv("AUCTION_SQL_WRITER", "thread")
    assert Config.from_env().sql_writer == "thread"
    monkeypatch.setenv("AUCTION_SQL_WRITER", "fork")
    with pytest.raises(SystemExit, match="AUCTION_SQL_WRITER must be one of process, thread, not 'fork'"):
        Config.from_env()


@pytest.mark.parametrize(("name", "raw", "why"), [
    ("AUCTION_BID_RATE", "fast", "must be a number, not 'fast'"),
    ("AUCTION_SEND_QUEUE_LIMIT", "2.5", "must be an integer, not '2.5'"),
    ("AUCTION_LEASE_MS", "-1500", "must be zero or more and finite, not '-1500'"),
    ("AUCTION_FORWARD_TIMEOUT_S", "nan", "must be zero or more and finite, not 'nan'"),
    ("AUCTION_ESCROW_RETRY_CAP_S", "inf", "must be zero or more and finite, not 'inf'"),
    ("AUCTION_TIMER_DELAY_MS", "soon", "must be an integer, not 'soon'"),
])
def test_a_bad_number_in_the_settings_stops_the_engine_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, name: str, raw: str, why: str) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SystemExit, match=f"^{name} {why}$"):
        Config.from_env()


def test_the_after_sale_settings_are_read_the_same_way(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from auction_engine.aftersale_http import AfterSaleSettings

    config = Config.from_env(data_dir=tmp_path, auth_secret="a" * 32)
    monkeypatch.setenv("AUCTION_CONTRACT_QUIET_S", "-5")
    with pytest.raises(SystemExit, match="^AUCTION_CONTRACT_QUIET_S must be zero or more and finite, not '-5'$"):
        AfterSaleSettings.from_env(config, "e" * 32)
    monkeypatch.setenv("AUCTION_CONTRACT_QUIET_S", "2.5")
    monkeypatch.setenv("AUCTION_DEPOSIT_MULTIPLE", "ten")
    with pytest.raises(SystemExit, match="^AUCTION_DEPOSIT_MULTIPLE must be an integer, not 'ten'$"):
        AfterSaleSettings.from_env(config, "e" * 32)
    monkeypatch.setenv("AUCTION_DEPOSIT_MULTIPLE", "12")
    after = AfterSaleSettings.from_env(config, "e" * 32)
    assert (after.contract_quiet_s, after.deposit_multiple) == (2.5, 12)
