"""The audit trail from the server's command line (operators; see docs/audit.md).

    python -m bot.audit verify
    python -m bot.audit export --case C-12 --format csv|json|fhir [--out FILE]
    python -m bot.audit purge --older-than-days 365

Settings come from the environment and .env, as for app.py (DATABASE_URL, the keys).
Exit status: 0 done; 1 the chain is broken (verify) or the request was wrong; 2 bad settings.
Exports and purges are recorded in the audit trail as the command line's doing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from bot.audit.commands import ExportFormat
from bot.audit.settings import AuditSettings
from bot.auditlog import Outcome, Source
from bot.config import ConfigError, load_settings
from bot.errors import CareThreadError
from bot.inputs import parse_case_ref
from bot.unit import Actor

CLI_ACTOR = "cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.audit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check the whole hash chain; exit 1 at the first bad event")
    export = sub.add_parser("export", help="one case's audit trail and thread transcript")
    export.add_argument("--case", required=True, help="case id, e.g. C-12")
    export.add_argument("--format", choices=[f.value for f in ExportFormat], default=ExportFormat.CSV.value)
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    purge = sub.add_parser("purge", help="remove thread transcript text older than N days")
    purge.add_argument("--older-than-days", type=int, required=True, metavar="N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        from bot.factory import build_deps
        from bot.workflows import WORKFLOWS

        settings = load_settings(workflows=WORKFLOWS)

        deps = build_deps(settings)
    except ConfigError as err:
        print(f"carethread: {err}", file=sys.stderr)
        return 2
    actor = Actor(
        user_id=CLI_ACTOR, team_id=None, source=Source.CLI, correlation_id=f"cli-{uuid.uuid4().hex[:12]}"
    )
    try:
        if options.command == "verify":
            return _verify(deps, actor)
        if options.command == "export":
            return _export(deps, actor, options)
        return _purge(deps, actor, options.older_than_days)
    except CareThreadError as err:
        print(f"carethread: {err.message}", file=sys.stderr)
        return 1
    finally:
        deps.engine.dispose()


def _verify(deps, actor: Actor) -> int:
    from bot.audit.verify import verify_full

    result = verify_full(deps)
    if result.ok:
        deps.record(actor, "audit.verified", Outcome.OK, checked=result.checked, full=True)
        print(f"ok: {result.checked} events verified, the chain is intact")
        if deps.settings.section(AuditSettings).anchor_dir is None:
            print(
                "note: CARETHREAD_AUDIT_ANCHOR_DIR is not set, so events removed from the end of the "
                "chain (or all of them) cannot be detected (docs/audit.md, Anchoring)",
                file=sys.stderr,
            )
        return 0
    deps.record(
        actor,
        "audit.verify_failed",
        Outcome.ERROR,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
        full=True,
    )
    print(
        f"BROKEN at seq {result.first_bad_seq}: {result.problem} "
        f"({result.checked} events verified before it)",
        file=sys.stderr,
    )
    print(f"first bad seq: {result.first_bad_seq}")
    return 1


def _export(deps, actor: Actor, options: argparse.Namespace) -> int:
    from bot.audit.service import export_trail

    case_id = parse_case_ref(options.case, usage="--case C-12")
    with deps.unit(actor) as unit:
        unit.audit("cli.invoked", command="export", os_user=_os_user())
        export = export_trail(unit, case_id=case_id, fmt=ExportFormat(options.format), operator=True)
    if options.out is None:
        sys.stdout.buffer.write(export.content)
        sys.stdout.buffer.flush()
    else:
        options.out.write_bytes(export.content)
        print(
            f"wrote {options.out}: {export.events} events, {export.transcript_entries} transcript entries, "
            f"sha256 {export.sha256}",
            file=sys.stderr,
        )
    return 0


def _purge(deps, actor: Actor, days: int) -> int:
    from bot.audit.transcript import purge_transcripts

    if days < 1:
        print("carethread: --older-than-days must be 1 or more", file=sys.stderr)
        return 1
    deps.record(actor, "cli.invoked", Outcome.OK, command="purge", os_user=_os_user())
    result = purge_transcripts(deps, older_than_days=days, actor=actor)
    print(
        f"purged the text of {result.entries} transcript entries in {result.cases} cases "
        f"(older than {result.cutoff.isoformat()}); audit events are kept"
    )
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()[:64]
    except Exception:  # no login name in some containers
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
