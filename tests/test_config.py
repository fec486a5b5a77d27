"""Settings fail fast, with messages that say what to fix."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, load_settings
from bot.crypto import Cipher
from bot.deps import check_keys
from storage import migrate
from storage.db import make_engine


def env(tmp_path, **extra):
    return {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "CARETHREAD_DATA_DIR": str(tmp_path),
        **extra,
    }


def test_missing_required_settings_are_all_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings({"CARETHREAD_DATA_DIR": str(tmp_path)}, dotenv_path=tmp_path / "none")
    message = str(err.value)
    assert "SLACK_BOT_TOKEN" in message and "SLACK_SIGNING_SECRET" in message
    assert ".env.example" in message and "README" in message


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_BOT_TOKEN=from-file\nSLACK_SIGNING_SECRET=file-secret\nPORT=4000\n")
    settings = load_settings({"PORT": "5000", "CARETHREAD_DATA_DIR": str(tmp_path)}, dotenv_path=dotenv)
    assert settings.bot_token == "from-file" and settings.port == 5000


def test_defaults(tmp_path):
    settings = load_settings(env(tmp_path), dotenv_path=tmp_path / "none")
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == f"sqlite:///{tmp_path / 'carethread.db'}"
    assert settings.sweep_seconds == 60 and settings.port == 3000 and not settings.socket_mode
    assert settings.admins == frozenset()


def test_values_are_parsed_and_checked(tmp_path):
    settings = load_settings(
        env(
            tmp_path,
            SLACK_API_URL="http://127.0.0.1:3001/api",
            CARETHREAD_ADMINS=" U1, U2 ,",
            SLACK_APP_TOKEN="xapp-1",
            CARETHREAD_SWEEP_SECONDS="5",
        ),
        dotenv_path=tmp_path / "none",
    )
    assert settings.slack_api_url == "http://127.0.0.1:3001/api/"
    assert settings.admins == {"U1", "U2"} and settings.socket_mode and settings.sweep_seconds == 5
    for name, value, expected in [
        ("PORT", "abc", "whole number"),
        ("PORT", "70000", "between"),
        ("CARETHREAD_SWEEP_SECONDS", "0", "between"),
        ("SLACK_API_URL", "ftp://x", r"http\(s\) URL"),
        ("CARETHREAD_ENCRYPTION_KEYS", "not-a-key", "not a valid Fernet key"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            load_settings(env(tmp_path, **{name: value}), dotenv_path=tmp_path / "none")


def test_key_file_is_created_once_and_reused(tmp_path):
    first = load_settings(env(tmp_path), dotenv_path=tmp_path / "none")
    key_file = tmp_path / "carethread-keys.env"
    assert first.key_file == key_file and key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    again = load_settings(env(tmp_path), dotenv_path=tmp_path / "none")
    assert again.encryption_keys == first.encryption_keys and again.audit_key == first.audit_key


def test_wrong_key_fails_loudly_and_rotation_keeps_old_data_readable(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    old, new, other = (Fernet.generate_key().decode() for _ in range(3))
    check_keys(engine, Cipher([old]), b"audit-key-0123456789")
    check_keys(engine, Cipher([new, old]), b"audit-key-0123456789")  # rotation: new first, old kept
    with pytest.raises(ConfigError, match="cannot decrypt"):
        check_keys(engine, Cipher([other]), b"audit-key-0123456789")
    with pytest.raises(ConfigError, match="CARETHREAD_AUDIT_KEY"):
        check_keys(engine, Cipher([old]), b"another-audit-key-xyz")
    token = Cipher([old]).encrypt("label")
    assert Cipher([new, old]).decrypt(Cipher([new, old]).rotate(token)) == "label"
    assert Cipher([new]).decrypt(Cipher([new, old]).rotate(token)) == "label"
