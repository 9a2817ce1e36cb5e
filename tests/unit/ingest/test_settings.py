"""Ingest settings: the INGEST_* variables of issue 5, and how `--replay` / `--group-id` pick the group."""

from __future__ import annotations

import pytest
from millimetric_ingest.__main__ import settings_for
from millimetric_ingest.settings import Settings
from millimetric_runtime.settings import ConfigError

NOON = 1_779_710_400.0  # 2026-05-25T12:00:00Z


def test_defaults_name_the_dead_letter_topic_after_the_events_topic_and_do_not_replay() -> None:
    s = Settings.from_env({"INGEST_EVENTS_TOPIC": "e.v1"})
    assert s.dead_letter_topic == "e.v1.dlq"
    assert not s.replay and s.replay_group_id is None
    assert (s.max_poll_interval_ms, s.session_timeout_ms, s.stats_interval_s) == (300_000, 10_000, 30.0)


def test_reads_every_new_variable() -> None:
    s = Settings.from_env({
        "INGEST_DEAD_LETTER_TOPIC": "dead", "INGEST_REPLAY": "true", "INGEST_REPLAY_GROUP_ID": "rebuild-1",
        "INGEST_SESSION_TIMEOUT_MS": "6000", "INGEST_MAX_POLL_INTERVAL_MS": "60000", "INGEST_COMMIT_TIMEOUT_S": "3",
        "INGEST_DEAD_LETTER_TIMEOUT_S": "4", "INGEST_STATS_INTERVAL_S": "5", "INGEST_PG_CONNECT_TIMEOUT_S": "2",
    })
    assert s.dead_letter_topic == "dead" and s.replay and s.replay_group_id == "rebuild-1"
    assert (s.session_timeout_ms, s.max_poll_interval_ms, s.commit_timeout_s) == (6000, 60000, 3.0)
    assert (s.dead_letter_timeout_s, s.stats_interval_s, s.pg_connect_timeout_s) == (4.0, 5.0, 2.0)


@pytest.mark.parametrize(("name", "value"), [("INGEST_BATCH_MAX_EVENTS", "0"), ("INGEST_REPLAY", "maybe"),
                                             ("INGEST_MAX_POLL_INTERVAL_MS", "10")])
def test_a_bad_value_fails_at_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_replay_uses_a_new_group_named_after_the_ingest_group_and_the_time() -> None:
    s = settings_for(Settings(group_id="millimetric-ingest"), replay=True, now=NOON)
    assert s.replay and s.group_id == "millimetric-ingest-replay-20260525T120000Z"


def test_a_replay_group_can_be_named_to_resume_an_interrupted_replay() -> None:
    assert settings_for(Settings(), replay=True, group_id="rebuild-2").group_id == "rebuild-2"
    assert settings_for(Settings(replay=True, replay_group_id="rebuild-3")).group_id == "rebuild-3"


def test_without_replay_the_group_is_ingest_group_id_unless_given() -> None:
    assert settings_for(Settings(group_id="g")).group_id == "g"
    assert settings_for(Settings(group_id="g"), group_id="h").group_id == "h"
    assert not settings_for(Settings()).replay


def test_the_cli_hands_replay_and_group_id_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from millimetric import cli

    seen: list[object] = []
    monkeypatch.setattr("millimetric_ingest.__main__.main", seen.append)
    cli.main(["ingest", "--replay", "--group-id", "rebuild-4"])
    cli.main(["ingest"])
    assert seen == [["--replay", "--group-id", "rebuild-4"], []]


def test_dev_takes_the_worker_count_and_the_partition_count() -> None:
    from millimetric import cli

    args = cli.build_parser().parse_args(["dev", "--ingest-workers", "3", "--partitions", "12"])
    assert (args.ingest_workers, args.partitions) == (3, 12)
