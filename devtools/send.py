"""Send a signed slash command to a running CareThread, as Slack would.

    python -m devtools.send --user U0ALICE '/case create Blue Heron as prescriber'

Reads SLACK_SIGNING_SECRET from the environment or .env. The reply (sent to the command's
response_url) lands on the stand-in Slack server; see its /calls page.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

from dotenv import load_dotenv

from devtools.slackreq import slash_command


def main() -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command_line", help="e.g. '/case show C-1'")
    parser.add_argument("--user", default="U0ALICE")
    parser.add_argument("--channel", default="C0CARE")
    parser.add_argument("--app", default=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/slack/events")
    parser.add_argument("--standin", default="http://127.0.0.1:3001/")
    options = parser.parse_args()
    command, _, text = options.command_line.partition(" ")
    secret = os.environ.get("SLACK_SIGNING_SECRET")
    if not secret:
        print("Set SLACK_SIGNING_SECRET (the same value the app uses).", file=sys.stderr)
        return 2
    request = slash_command(
        secret,
        command=command,
        text=text,
        user=options.user,
        channel=options.channel,
        response_url=options.standin.rstrip("/") + "/respond/cli",
    )
    http_request = urllib.request.Request(options.app, data=request.body.encode(), headers=request.headers)
    try:
        with urllib.request.urlopen(http_request, timeout=5) as response:
            print(response.status, response.read().decode() or "(acknowledged)")
    except urllib.error.HTTPError as err:
        print(err.code, err.read().decode())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
