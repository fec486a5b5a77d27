"""devtools.slackreq: ids that never repeat, also across processes (a second run's requests
must not look like Slack retries of the first run's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

from devtools import slackreq

ROOT = Path(__file__).resolve().parent.parent

_IDS_SCRIPT = """
import json
from urllib.parse import parse_qs
from devtools import slackreq
cmd = slackreq.slash_command("s", command="/case", text="help", user="U1")
sub = slackreq.view_submission("s", user="U1", callback_id="c", values={})
ev = slackreq.event_callback("s", {"type": "app_home_opened", "user": "U1"})
payload = json.loads(parse_qs(sub.body)["payload"][0])
print(json.dumps([parse_qs(cmd.body)["trigger_id"][0], payload["trigger_id"], payload["view"]["id"],
                  payload["view"]["hash"], json.loads(ev.body)["event_id"]]))
"""


def _ids_from_a_new_process() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _IDS_SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def test_ids_differ_between_processes():
    first, second = _ids_from_a_new_process(), _ids_from_a_new_process()
    assert len(first) == 5 and len(set(first)) == 5
    assert not set(first) & set(second)


def test_ids_differ_between_requests_in_one_process():
    triggers = {
        parse_qs(slackreq.slash_command("s", command="/case", text="", user="U1").body)["trigger_id"][0]
        for _ in range(50)
    }
    events = {json.loads(slackreq.event_callback("s", {"type": "x"}).body)["event_id"] for _ in range(50)}
    assert len(triggers) == 50 and len(events) == 50
