from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, load_settings
from service.store.redis_connect import RedisOptions, SentinelUrl, parse_sentinel_url

CONFIGURATION = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize("name", Settings.names())
def test_the_configuration_document_lists_every_setting(name: str) -> None:
    assert f"| `{name}` | `PREFLIGHT_{name.upper()}` |" in CONFIGURATION


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "preflight.toml"
    config.write_text('max_batch_items = 8\nlisten = "127.0.0.1:6000"\nlog_format = "json"\n')
    settings = load_settings(
        config, environ={"PREFLIGHT_MAX_BATCH_ITEMS": "6"}, overrides={"listen": "127.0.0.1:7000"}
    )
    assert (settings.max_batch_items, settings.listen, settings.log_format) == (
        6,
        "127.0.0.1:7000",
        "json",
    )
    assert load_settings(environ={}).store_url == Settings().store_url


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("thread = 2\n", {}, "unknown settings thread"),
        ("", {"PREFLIGHT_WORKERS": "many"}, "workers must be a int"),
        ("", {"PREFLIGHT_STORE_URL": "postgres://x"}, "store_url must start with"),
        ("", {"PREFLIGHT_LOG_FORMAT": "xml"}, "log_format"),
        ("= broken", {}, "config file"),
        ("", {"PREFLIGHT_STORE_URL": "redis+sentinel://s1:26379"}, "service after the Sentinels"),
        ("", {"PREFLIGHT_STORE_URL": "redis+sentinel://s1:x/m"}, "bad Sentinel address"),
        ("", {"PREFLIGHT_STORE_URL": "redis+sentinel://s1/m/zero"}, "database must be a number"),
        ('redis_wait_replicas = "one"\n', {}, "redis_wait_replicas must be auto or a number"),
        ("redis_wait_timeout_ms = 0\n", {}, "redis_wait_timeout_ms must be at least 1"),
        ("outcome_window_days = 0\n", {}, "outcome_window_days must be above 0"),
        ("", {"PREFLIGHT_SUPPRESSION_EXPIRY_DAYS": "-1"}, "suppression_expiry_days at least 0"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    config = tmp_path / "preflight.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ=environ)


def test_snapshot_files_go_beside_an_sqlite_store_unless_told_otherwise() -> None:
    sqlite = load_settings(environ={}, overrides={"store_url": "sqlite:///var/lib/p/incidents.db"})
    assert sqlite.snapshot_folder() == "var/lib/p/incidents.db.snapshots"
    redis = load_settings(environ={}, overrides={"store_url": "redis://127.0.0.1:6379/0"})
    assert redis.snapshot_folder() == ""
    chosen = load_settings(environ={"PREFLIGHT_SNAPSHOT_DIR": "/srv/snap"},
                           overrides={"store_url": "redis://127.0.0.1:6379/0"})  # fmt: skip
    assert chosen.snapshot_folder() == "/srv/snap"
    off = load_settings(environ={"PREFLIGHT_SNAPSHOT_DIR": ""})
    assert off.snapshot_folder() == ""


def test_a_sentinel_store_waits_for_one_replica_unless_told_otherwise() -> None:
    url = "rediss+sentinel://:pw@s1:26379,s2,[::1]:26380/preflight/2"
    sentinel = load_settings(environ={"PREFLIGHT_REDIS_SENTINEL_PASSWORD": "s"},
                             overrides={"store_url": url})  # fmt: skip
    assert sentinel.redis_options() == RedisOptions(sentinel_password="s", wait_replicas=1)
    assert parse_sentinel_url(url) == SentinelUrl(
        (("s1", 26379), ("s2", 26379), ("::1", 26380)), "preflight", 2, "pw", tls=True
    )
    single = load_settings(environ={}, overrides={"store_url": "redis://r:6379/0"})
    assert single.redis_options().wait_replicas == 0
    told = load_settings(environ={"PREFLIGHT_REDIS_WAIT_REPLICAS": "2"},
                         overrides={"store_url": url, "redis_wait_timeout_ms": 50})  # fmt: skip
    assert (told.redis_options().wait_replicas, told.redis_options().wait_timeout_ms) == (2, 50)
