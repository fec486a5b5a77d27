"""Settings, read once from the environment (and `.env`), validated up front.

A clinic's IT admin should learn about a missing token or a bad key when the app starts,
with a message that says what to fix, not from a stack trace on the first request.

Every settings model (the core's here, and each workflow's in `bot/<workflow>/settings.py`,
declared on its `Workflow`) is a pydantic-settings model whose fields are read by their
documented variable names from ONE mapping that `load_settings` builds: `.env` overlaid by
the environment. Nothing else is read (no model looks at `os.environ` or a `.env` by
itself), so the settings a process runs with are exactly what `load_settings` was given.
A value that does not parse becomes one ConfigError line: the variable, what it should look
like, and what it was.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from pydantic import AliasChoices, Field, PlainValidator, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot import clinic
from bot.errors import BadInput
from bot.inputs import parse_clock_time

if TYPE_CHECKING:
    from bot.contributions import Workflow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DOTENV_SETTING = "CARETHREAD_DOTENV"  # which .env file to read (default: the project's); "" for none
REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
KEY_FILE_NAME = "carethread-keys.env"
CLINIC_TZ = "CARETHREAD_CLINIC_TZ"
OLDER_TZ_NAMES = ("CARETHREAD_FALLBACK_TZ", "CARETHREAD_SIDEEFFECT_TIMEZONE", "CARETHREAD_DIGEST_TZ")
# Never quoted back in an error message: they are secrets, or may hold one (a DB password).
SECRET_SETTINGS = frozenset(
    {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "DATABASE_URL",
        "CARETHREAD_ENCRYPTION_KEYS",
        "CARETHREAD_AUDIT_KEY",
    }
)


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


# -- reading one variable ---------------------------------------------------------------------


def parsed(parse: Callable[[str], Any]) -> PlainValidator:
    """A field read from its variable's text by `parse`, which raises ValueError with what
    the value should look like ("must look like 09:00-17:00"). A value that is not text is
    a default given already parsed, and is kept."""

    def validate(raw: Any) -> Any:
        return parse(raw.strip()) if isinstance(raw, str) else raw

    return PlainValidator(validate)


def whole(low: int, high: int) -> PlainValidator:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]+", raw) or not low <= int(raw) <= high:
            raise ValueError(f"must be a whole number between {low} and {high}")
        return int(raw)

    return parsed(parse)


def _zone_name(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone like America/New_York") from None
    return raw


def _clock_time(raw: str) -> time:
    try:
        return parse_clock_time(raw, usage="")
    except BadInput:
        raise ValueError("must be a 24-hour time like 09:00") from None


def _hours(raw: str) -> tuple[time, time]:
    start, sep, end = raw.replace("\u2013", "-").partition("-")
    try:
        if not sep:
            raise BadInput("")
        first, last = parse_clock_time(start, usage=""), parse_clock_time(end, usage="")
    except BadInput:
        raise ValueError("must look like 09:00-17:00") from None
    if first >= last:
        raise ValueError("must start before it ends, like 09:00-17:00")
    return first, last


def _days(raw: str) -> frozenset[int]:
    try:
        return clinic.parse_days(raw)
    except BadInput:
        raise ValueError("must look like mon-fri or mon,tue,thu") from None


def _api_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return raw if raw.endswith("/") else raw + "/"


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host(raw: str) -> str:
    """An IPv4 address, an IPv6 address (bare or in brackets: kept bare, serve.py brackets
    it for gunicorn) or a hostname."""
    host = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if (
        ":" not in host
        and len(host) <= 253
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()  # 300.1.1.1 is a wrong address, not a name
    ):
        return host
    raise ValueError(
        "must be an IPv4 address like 0.0.0.0, an IPv6 address like :: or [::1], or a hostname like localhost"
    )


def _fernet_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                f"entry {index + 1} is not a valid Fernet key (32 url-safe base64 bytes). Generate one with: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    return keys


def _audit_key(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("must be at least 16 characters")
    return raw


def _on_off(raw: str) -> bool:
    if raw.lower() in ("1", "on", "yes", "true"):
        return True
    if raw.lower() in ("0", "off", "no", "false"):
        return False
    raise ValueError("must be 1 (on) or 0 (off)")


def _ids(raw: str) -> frozenset[str]:
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


ZoneName = Annotated[str, parsed(_zone_name)]
ClockTime = Annotated[time, parsed(_clock_time)]


def _describe(err: ValidationError, secrets: frozenset[str] = SECRET_SETTINGS) -> str:
    """One line: each wrong variable, what it should look like, and (unless secret) what it was."""
    lines = []
    for error in err.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        reason = str(cause) if cause is not None else error["msg"]
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:
            lines.append(reason if reason.endswith(".") else reason + ".")
        elif name in secrets:
            lines.append(f"{name} {reason}.")
        else:
            lines.append(f"{name} {reason}, got {error.get('input')!r}.")
    return " ".join(lines)


# -- the models ---------------------------------------------------------------------------------

S = TypeVar("S", bound="EnvSettings")


class EnvSettings(BaseSettings):
    """Base of every settings model: frozen, read only from what `from_env` is given (by
    each field's variable name), other variables ignored."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # load_settings has merged .env and the environment already

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Self:
        """Validated from the merged variables; a bad value is a one-line ConfigError."""
        try:
            return cls(**dict(env))
        except ValidationError as err:
            raise ConfigError(_describe(err)) from None


class ClinicSettings(EnvSettings):
    """The clinic's ONE time zone and its working hours and days, for every workflow: the
    zone of people Slack gives none for, of the weekly digest, and of the weekend that
    business-day deadlines skip; the hours and days in which people are nudged and reminded
    (in their own zone) and that count as business days. Also how long a case is "new": the
    weekly digest (reviews) and the caseload registry (measures) both flag new cases, and
    they must agree, so the window is read here rather than from either workflow's section."""

    tz: ZoneName = Field("UTC", validation_alias=AliasChoices(CLINIC_TZ, *OLDER_TZ_NAMES))
    hours: Annotated[tuple[time, time], parsed(_hours)] = Field(
        (time(9), time(17)), validation_alias="CARETHREAD_WORKING_HOURS"
    )
    days: Annotated[frozenset[int], parsed(_days)] = Field(
        frozenset(range(5)), validation_alias="CARETHREAD_WORKING_DAYS"
    )
    new_case_days: Annotated[int, whole(1, 365)] = Field(14, validation_alias="CARETHREAD_NEW_CASE_DAYS")

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Self:
        """The older per-workflow zone names still work, but they must not disagree."""
        given = {name: env[name] for name in (CLINIC_TZ, *OLDER_TZ_NAMES) if env.get(name)}
        if len(set(given.values())) > 1:
            named = ", ".join(f"{name}={value!r}" for name, value in given.items())
            raise ConfigError(
                f"{CLINIC_TZ} is the clinic's one time zone, and these disagree: {named}. "
                f"Set {CLINIC_TZ} only."
            )
        return super().from_env(env)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def new_case_window(self) -> timedelta:
        """A case (the digest) or episode of care (the registry) younger than this is new."""
        return timedelta(days=self.new_case_days)

    @property
    def working_hours(self) -> clinic.WorkingHours:
        return clinic.WorkingHours(self.hours[0], self.hours[1], self.days)

    def zone_of(self, person_tz: str | None) -> ZoneInfo:
        """A person's zone (from users.info); the clinic's when Slack gave none we know."""
        return clinic.zone(person_tz, self.tz)


class Settings(EnvSettings):
    """The core's settings, with the clinic's and each workflow's nested in them."""

    bot_token: str = Field(validation_alias="SLACK_BOT_TOKEN", repr=False)
    signing_secret: str = Field(validation_alias="SLACK_SIGNING_SECRET", repr=False)
    encryption_keys: Annotated[tuple[str, ...], parsed(_fernet_keys)] = Field(
        validation_alias="CARETHREAD_ENCRYPTION_KEYS", repr=False
    )
    audit_key: Annotated[str, parsed(_audit_key)] = Field(validation_alias="CARETHREAD_AUDIT_KEY", repr=False)
    app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN", repr=False)
    slack_api_url: Annotated[str, parsed(_api_url)] = Field(
        DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL"
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, validation_alias="CARETHREAD_DATA_DIR")
    database_url: str = Field(validation_alias="DATABASE_URL", repr=False)
    port: Annotated[int, whole(1, 65535)] = Field(3000, validation_alias="PORT")
    # HTTP mode: the address to listen on.
    host: Annotated[str, parsed(_host)] = Field("0.0.0.0", validation_alias="HOST")
    admins: Annotated[frozenset[str], parsed(_ids)] = Field(frozenset(), validation_alias="CARETHREAD_ADMINS")
    admin_channel: str | None = Field(None, validation_alias="CARETHREAD_ADMIN_CHANNEL")
    sweep_seconds: Annotated[int, whole(1, 86400)] = Field(60, validation_alias="CARETHREAD_SWEEP_SECONDS")
    web_workers: Annotated[int, whole(1, 64)] = Field(1, validation_alias="WEB_WORKERS")
    web_threads: Annotated[int, whole(1, 256)] = Field(8, validation_alias="WEB_THREADS")
    # HTTP mode: processes doing the work apart from the web server (bot/processes.py).
    work_processes: Annotated[int, whole(1, 16)] = Field(1, validation_alias="WORK_PROCESSES")
    # How much lower the work processes' CPU priority is than the web server's (nice(2)): under
    # load an ack (Slack's 3 s) goes first, the work it saved a moment later. 0: the same.
    work_niceness: Annotated[int, whole(0, 19)] = Field(10, validation_alias="CARETHREAD_WORK_NICENESS")
    work_threads: Annotated[int, whole(1, 64)] = Field(4, validation_alias="CARETHREAD_WORK_THREADS")
    access_log: Annotated[bool, parsed(_on_off)] = Field(True, validation_alias="CARETHREAD_ACCESS_LOG")
    # At most this many requests wait in a process's local queue (backpressure, bot/inbox.py).
    inbox_queue: Annotated[int, whole(1, 100000)] = Field(200, validation_alias="CARETHREAD_INBOX_QUEUE")
    # How long a claimed inbox or outbox row stays claimed before another worker may take it.
    lease_seconds: Annotated[int, whole(1, 3600)] = Field(60, validation_alias="CARETHREAD_LEASE_SECONDS")
    # Cached users.info rows (name-free: zone, bot, deleted) not looked up for this many days are
    # purged by the sweep, so a departed clinician's profile does not stay forever.
    user_cache_days: Annotated[int, whole(1, 3650)] = Field(30, validation_alias="CARETHREAD_USER_CACHE_DAYS")
    key_file: Path | None = None  # the generated key file, when the keys came from it
    clinic: ClinicSettings = Field(default_factory=ClinicSettings)
    workflows: dict[str, EnvSettings] = Field(default_factory=dict)  # by workflow name

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    def section(self, kind: type[S]) -> S:
        """A workflow's settings, typed: `deps.settings.section(ReviewSettings)`. Validated
        when the settings were loaded, never later."""
        for value in self.workflows.values():
            if isinstance(value, kind):
                return value
        raise ConfigError(
            f"{kind.__name__} were not loaded: pass the workflows to load_settings(workflows=...)."
        )


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    dotenv_path: Path | None = None,
    data_dir: Path | None = None,
    workflows: Sequence[Workflow] = (),
) -> Settings:
    """Settings from the process environment overlaid on `.env` (environment wins), with the
    clinic's and each given workflow's settings nested, all validated now.

    `.env` is `dotenv_path`, else the file CARETHREAD_DOTENV names ("" for none), else the
    project's `.env`. Tests and the processes they start name theirs, so a developer's
    `.env` never changes their outcome."""
    given = os.environ if environ is None else environ
    dotenv_file = dotenv_path
    if dotenv_file is None:
        named = given.get(DOTENV_SETTING)
        dotenv_file = PROJECT_ROOT / ".env" if named is None else (Path(named) if named.strip() else None)
        if named and dotenv_file is not None and not dotenv_file.is_file():
            raise ConfigError(
                f"{DOTENV_SETTING} names {named!r}, which is not a file (set it empty for none)."
            )
    env: dict[str, str] = {}
    if dotenv_file is not None and dotenv_file.is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    env.update(given)
    env = {name: value.strip() for name, value in env.items() if value.strip()}  # empty: the default

    missing = [name for name in REQUIRED if name not in env]
    if missing:
        raise ConfigError(
            "Missing required setting(s): "
            + ", ".join(missing)
            + ". Set them in the environment or in .env (copy .env.example); README.md, "
            "'Create the Slack app', says where to find each value."
        )

    data = Path(env.get("CARETHREAD_DATA_DIR") or data_dir or DEFAULT_DATA_DIR)
    env["CARETHREAD_DATA_DIR"] = str(data)
    env.setdefault("DATABASE_URL", f"sqlite:///{data / 'carethread.db'}")
    key_file = _key_defaults(env, data)
    problems: list[str] = []  # every wrong setting at once, not one per restart

    def checked(model: type[S], values: Mapping[str, Any]) -> S | None:
        try:
            return model.from_env(values)
        except ConfigError as err:
            problems.append(str(err))
            return None

    core = checked(Settings, {**env, "key_file": key_file})
    clinic_settings = checked(ClinicSettings, env)
    sections = {w.name: checked(w.settings, env) for w in workflows if w.settings is not None}
    if problems or core is None:
        raise ConfigError(" ".join(problems))
    return core.model_copy(update={"clinic": clinic_settings, "workflows": sections})


def _key_defaults(env: dict[str, str], data: Path) -> Path | None:
    """Encryption keys (newest first) and the audit HMAC key, from the environment or else
    from a key file created once under the data directory and reused afterwards; its path is
    logged at start-up and README says to back it up, because losing it makes every
    encrypted field unreadable. Returns the key file's path when it was used."""
    if env.get("CARETHREAD_ENCRYPTION_KEYS") and env.get("CARETHREAD_AUDIT_KEY"):
        return None
    key_file = data / KEY_FILE_NAME
    stored = _read_or_create_key_file(key_file)
    env.setdefault("CARETHREAD_ENCRYPTION_KEYS", stored["CARETHREAD_ENCRYPTION_KEYS"])
    env.setdefault("CARETHREAD_AUDIT_KEY", stored["CARETHREAD_AUDIT_KEY"])
    return key_file


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
