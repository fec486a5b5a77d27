"""Settings, read once from the environment (and `.env`), validated up front.

A clinic's IT admin should learn about a missing token or a bad key when the app starts,
with a message that says what to fix, not from a stack trace on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

DEFAULT_RED_FLAGS = (
    "Suicidal thoughts or behaviour",
    "Any rash on lamotrigine",
    "Signs of serotonin toxicity (clonus, agitation, sweating, tremor with hyperreflexia, fever)",
    "Signs of lithium toxicity (vomiting, diarrhoea, coarse tremor, confusion, ataxia)",
    "NMS signs on an antipsychotic (rigidity, fever, confusion)",
    "Fever or sore throat on clozapine",
    "Seizure",
    "Fainting",
)
DEFAULT_CRISIS_TEXT = (
    "If the patient is in immediate danger, follow your clinic's emergency procedure now: "
    "call emergency services or the crisis line (988 in the US), and stay with the patient "
    "or keep them on the line. Then make sure the prescriber has seen this report."
)


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    bot_token: str
    signing_secret: str
    encryption_keys: tuple[str, ...]
    audit_key: str
    app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = ""
    port: int = 3000
    host: str = "0.0.0.0"
    admins: frozenset[str] = frozenset()
    admin_channel: str | None = None
    sweep_seconds: int = 60
    audit_verify_seconds: int = 3600
    web_workers: int = 1
    web_threads: int = 8
    work_threads: int = 4
    inbox_queue: int = 200
    lease_seconds: int = 60
    red_flags: tuple[str, ...] = DEFAULT_RED_FLAGS
    crisis_text: str = DEFAULT_CRISIS_TEXT
    key_file: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)


REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
KEY_FILE_NAME = "carethread-keys.env"


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    dotenv_path: Path | None = None,
    data_dir: Path | None = None,
) -> Settings:
    """Build Settings from the process environment overlaid on `.env` (environment wins)."""
    env: dict[str, str] = {}
    dotenv_file = dotenv_path if dotenv_path is not None else PROJECT_ROOT / ".env"
    if dotenv_file.exists():
        env.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    missing = [name for name in REQUIRED if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(
            "Missing required setting(s): "
            + ", ".join(missing)
            + ". Set them in the environment or in .env (copy .env.example); README.md, "
            "'Create the Slack app', says where to find each value."
        )

    data = Path(env.get("CARETHREAD_DATA_DIR") or data_dir or DEFAULT_DATA_DIR)
    keys, audit_key, key_file = _keys(env, data)

    return Settings(
        bot_token=env["SLACK_BOT_TOKEN"].strip(),
        signing_secret=env["SLACK_SIGNING_SECRET"].strip(),
        app_token=(env.get("SLACK_APP_TOKEN") or "").strip() or None,
        slack_api_url=_api_url(env.get("SLACK_API_URL")),
        database_url=(env.get("DATABASE_URL") or "").strip() or f"sqlite:///{data / 'carethread.db'}",
        port=_int(env, "PORT", 3000, low=1, high=65535),
        host=(env.get("HOST") or "").strip() or "0.0.0.0",
        admins=frozenset(u.strip() for u in env.get("CARETHREAD_ADMINS", "").split(",") if u.strip()),
        admin_channel=(env.get("CARETHREAD_ADMIN_CHANNEL") or "").strip() or None,
        sweep_seconds=_int(env, "CARETHREAD_SWEEP_SECONDS", 60, low=1, high=86400),
        audit_verify_seconds=_int(env, "CARETHREAD_AUDIT_VERIFY_SECONDS", 3600, low=60, high=7 * 86400),
        web_workers=_int(env, "WEB_WORKERS", 1, low=1, high=64),
        web_threads=_int(env, "WEB_THREADS", 8, low=1, high=256),
        work_threads=_int(env, "CARETHREAD_WORK_THREADS", 4, low=1, high=64),
        inbox_queue=_int(env, "CARETHREAD_INBOX_QUEUE", 200, low=1, high=100000),
        lease_seconds=_int(env, "CARETHREAD_LEASE_SECONDS", 60, low=1, high=3600),
        red_flags=_list(env.get("CARETHREAD_RED_FLAGS"), DEFAULT_RED_FLAGS),
        crisis_text=(env.get("CARETHREAD_CRISIS_TEXT") or "").strip() or DEFAULT_CRISIS_TEXT,
        encryption_keys=keys,
        audit_key=audit_key,
        key_file=key_file,
        extra={k: v for k, v in env.items() if k.startswith("CARETHREAD_")},
    )


def _api_url(raw: str | None) -> str:
    url = (raw or "").strip() or DEFAULT_SLACK_API_URL
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL, got {url!r}.")
    return url if url.endswith("/") else url + "/"


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}.")
    return value


int_setting = _int  # for workflow settings read from Settings.extra (CARETHREAD_*)


def _list(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if not raw or not raw.strip():
        return default
    return tuple(item.strip() for item in raw.split(";") if item.strip())


def _keys(env: Mapping[str, str], data: Path) -> tuple[tuple[str, ...], str, Path | None]:
    """Encryption keys (newest first) and the audit HMAC key.

    When the environment gives none, a key file is created once under the data directory
    and reused afterwards; its path is logged at start-up and README says to back it up,
    because losing it makes every encrypted field unreadable.
    """
    key_file: Path | None = None
    raw_keys = (env.get("CARETHREAD_ENCRYPTION_KEYS") or "").strip()
    audit_key = (env.get("CARETHREAD_AUDIT_KEY") or "").strip()
    if not raw_keys or not audit_key:
        key_file = data / KEY_FILE_NAME
        stored = _read_or_create_key_file(key_file)
        raw_keys = raw_keys or stored["CARETHREAD_ENCRYPTION_KEYS"]
        audit_key = audit_key or stored["CARETHREAD_AUDIT_KEY"]
    keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"CARETHREAD_ENCRYPTION_KEYS entry {index + 1} is not a valid Fernet key "
                "(32 url-safe base64 bytes). Generate one with: "
                'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None
    if len(audit_key) < 16:
        raise ConfigError("CARETHREAD_AUDIT_KEY must be at least 16 characters.")
    return keys, audit_key, key_file


def _read_or_create_key_file(path: Path) -> dict[str, str]:
    if path.exists():
        values = {k: v or "" for k, v in dotenv_values(path).items()}
        if values.get("CARETHREAD_ENCRYPTION_KEYS") and values.get("CARETHREAD_AUDIT_KEY"):
            return values
        raise ConfigError(f"Key file {path} is incomplete; restore it from your backup.")
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "CARETHREAD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "CARETHREAD_AUDIT_KEY": Fernet.generate_key().decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Created by CareThread on first start. BACK THIS FILE UP: without it the\n")
        handle.write("# encrypted case data cannot be read and the audit chain cannot be verified.\n")
        for name, value in values.items():
            handle.write(f"{name}={value}\n")
    return values
