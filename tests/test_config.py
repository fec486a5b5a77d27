"""Settings fail fast, with messages that say what to fix; one clinic time; and a `.env`
in the project root never changes what a test (or a process a test starts) runs with."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bot.audit.settings import AuditSettings
from bot.config import PROJECT_ROOT, ConfigError, load_settings
from bot.crypto import Cipher
from bot.deps import check_keys
from bot.handoffs.settings import HandoffSettings
from bot.reviews.settings import ReviewSettings
from bot.serve import bind_address
from bot.side_effects.settings import DEFAULT_RED_FLAGS, SideEffectSettings
from bot.workflows import WORKFLOWS
from devtools.process import app_env
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
    settings = load_settings(env(tmp_path), dotenv_path=tmp_path / "none", workflows=WORKFLOWS)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == f"sqlite:///{tmp_path / 'carethread.db'}"
    assert settings.sweep_seconds == 60 and settings.port == 3000 and not settings.socket_mode
    assert settings.admins == frozenset()
    assert settings.clinic.tz == "UTC" and settings.clinic.working_hours.describe() == (
        "09:00-17:00, Mon, Tue, Wed, Thu, Fri"
    )
    assert settings.section(AuditSettings).verify_seconds == 3600
    assert settings.section(SideEffectSettings).red_flags == DEFAULT_RED_FLAGS
    assert set(settings.workflows) == {w.name for w in WORKFLOWS if w.settings is not None}


def test_every_workflow_setting_is_read_by_its_documented_name(tmp_path):
    settings = load_settings(
        env(
            tmp_path,
            CARETHREAD_AUDIT_VERIFY_SECONDS="120",
            CARETHREAD_RED_FLAGS="Seizure; Fainting ;",
            CARETHREAD_CRISIS_TEXT="Call the on-call line.",
            CARETHREAD_HANDOFF_REMIND_MINUTES="30",
            CARETHREAD_REVIEW_OVERDUE_DAYS="3",
            CARETHREAD_DIGEST_CHANNEL="C0LEADS",
        ),
        dotenv_path=tmp_path / "none",
        workflows=WORKFLOWS,
    )
    assert settings.section(AuditSettings).verify_seconds == 120
    side_effects = settings.section(SideEffectSettings)
    assert side_effects.red_flags == ("Seizure", "Fainting")
    assert side_effects.crisis_text == "Call the on-call line."
    assert settings.section(HandoffSettings).remind_minutes == 30
    reviews = settings.section(ReviewSettings)
    assert reviews.overdue_days == 3 and reviews.digest_channel == "C0LEADS"


def test_one_clinic_time_zone_under_its_older_names_too(tmp_path):
    def clinic(**extra):
        return load_settings(env(tmp_path, **extra), dotenv_path=tmp_path / "none").clinic

    assert clinic(CARETHREAD_CLINIC_TZ="Europe/Berlin").tz == "Europe/Berlin"
    for older in ("CARETHREAD_FALLBACK_TZ", "CARETHREAD_SIDEEFFECT_TIMEZONE", "CARETHREAD_DIGEST_TZ"):
        assert clinic(**{older: "Asia/Kolkata"}).zone.key == "Asia/Kolkata"
    assert (
        clinic(CARETHREAD_CLINIC_TZ="Asia/Kolkata", CARETHREAD_DIGEST_TZ="Asia/Kolkata").tz == "Asia/Kolkata"
    )
    with pytest.raises(
        ConfigError, match="disagree: CARETHREAD_CLINIC_TZ='UTC', CARETHREAD_DIGEST_TZ='Europe/Paris'"
    ):
        clinic(CARETHREAD_CLINIC_TZ="UTC", CARETHREAD_DIGEST_TZ="Europe/Paris")
    berlin = clinic(CARETHREAD_CLINIC_TZ="Europe/Berlin")
    assert berlin.zone_of("America/Chicago").key == "America/Chicago"  # a person's own zone first
    assert berlin.zone_of(None).key == berlin.zone_of("Mars/Olympus").key == "Europe/Berlin"


def test_errors_are_one_line_naming_the_variable_and_the_form_and_never_a_secret(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(
            env(tmp_path, CARETHREAD_WORKING_HOURS="nine", WEB_THREADS="0"),
            dotenv_path=tmp_path / "none",
        )
    assert str(caught.value) == (
        "WEB_THREADS must be a whole number between 1 and 256, got '0'. "
        "CARETHREAD_WORKING_HOURS must look like 09:00-17:00, got 'nine'."
    )
    for name in ("CARETHREAD_AUDIT_KEY", "CARETHREAD_ENCRYPTION_KEYS"):
        with pytest.raises(ConfigError) as caught:
            load_settings(env(tmp_path, **{name: "leaked-secret"}), dotenv_path=tmp_path / "none")
        assert name in str(caught.value) and "leaked-secret" not in str(caught.value)
        assert "\n" not in str(caught.value)
    settings = load_settings(env(tmp_path, SLACK_APP_TOKEN="xapp-secret"), dotenv_path=tmp_path / "none")
    assert "xapp-secret" not in repr(settings) and "xoxb-1" not in repr(settings)
    assert settings.audit_key not in repr(settings)


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
        ("CARETHREAD_AUDIT_VERIFY_SECONDS", "30", "between 60 and 604800"),
        ("CARETHREAD_RED_FLAGS", ";", "at least one red flag"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            load_settings(env(tmp_path, **{name: value}), dotenv_path=tmp_path / "none", workflows=WORKFLOWS)


@pytest.mark.parametrize(
    ("raw", "host", "bind"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1:3000"),
        ("0.0.0.0", "0.0.0.0", "0.0.0.0:3000"),
        ("::", "::", "[::]:3000"),
        ("::1", "::1", "[::1]:3000"),
        ("[::1]", "::1", "[::1]:3000"),  # as in a URL: kept bare, bracketed for gunicorn
        ("localhost", "localhost", "localhost:3000"),
        ("carethread.internal", "carethread.internal", "carethread.internal:3000"),
    ],
)
def test_host_is_an_address_or_a_hostname_and_gunicorn_binds_it(tmp_path, raw, host, bind):
    settings = load_settings(env(tmp_path, HOST=raw), dotenv_path=tmp_path / "none")
    assert settings.host == host
    assert bind_address(settings.host, settings.port) == bind


@pytest.mark.parametrize(
    "raw", ["300.1.1.1", "::1:3000x", "127.0.0.1:3000", "http://localhost", "my host", "-x"]
)
def test_a_host_that_is_neither_is_one_clear_error(tmp_path, raw):
    with pytest.raises(ConfigError) as caught:
        load_settings(env(tmp_path, HOST=raw), dotenv_path=tmp_path / "none")
    assert str(caught.value) == (
        "HOST must be an IPv4 address like 0.0.0.0, an IPv6 address like :: or [::1], or a hostname "
        f"like localhost, got {raw!r}."
    )


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


# -- a developer's .env ------------------------------------------------------------------------

HOSTILE_DOTENV = (
    "SLACK_BOT_TOKEN=xoxb-local\nSLACK_SIGNING_SECRET=local-secret\n"
    "SLACK_API_URL=http://127.0.0.1:3001/api/\nCARETHREAD_ADMINS=U0ADMIN\nDATABASE_URL=sqlite:///x.db\n"
    "CARETHREAD_WORKING_HOURS=nine\n"
)


def test_carethread_dotenv_names_the_file_or_none(tmp_path):
    hostile = tmp_path / "hostile.env"
    hostile.write_text(HOSTILE_DOTENV.replace("CARETHREAD_WORKING_HOURS=nine\n", ""))
    named = load_settings({"CARETHREAD_DOTENV": str(hostile), "CARETHREAD_DATA_DIR": str(tmp_path)})
    assert named.bot_token == "xoxb-local" and named.admins == {"U0ADMIN"}
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        load_settings({"CARETHREAD_DOTENV": "", "CARETHREAD_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"CARETHREAD_DOTENV names '.*missing\.env', which is not a file"):
        load_settings({"CARETHREAD_DOTENV": str(tmp_path / "missing.env")})


def test_a_dotenv_in_the_project_root_does_not_reach_a_process_a_test_starts(tmp_path):
    """The README's 'Try it' writes a .env into the project root. A copy of the project with
    such a file: started as the tests start the app (devtools.process.app_env), it sees none
    of it; started plainly, as an operator would, it does read it (so this test would notice
    if app_env stopped shielding the tests)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("app.py", "alembic.ini", "bot", "handlers", "storage", "templates"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / name)
    (project / ".env").write_text(HOSTILE_DOTENV)

    def start(env):
        return subprocess.run(
            [sys.executable, "app.py"], cwd=project, env=env, capture_output=True, text=True, timeout=60
        )

    shielded = start(app_env(CARETHREAD_DATA_DIR=str(tmp_path / "data")))
    assert shielded.returncode == 2 and "Missing required setting(s): SLACK_BOT_TOKEN" in shielded.stderr
    unset = {
        k: v
        for k, v in app_env(CARETHREAD_DATA_DIR=str(tmp_path / "data")).items()
        if k != "CARETHREAD_DOTENV"
    }
    default = start(unset)
    assert default.returncode == 2 and "CARETHREAD_WORKING_HOURS must look like" in default.stderr
    assert "Traceback" not in shielded.stderr + default.stderr
