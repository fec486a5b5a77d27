"""Delivery under Slack's rate limit: 200 messages to 5 channels through the outbox relay,
against a stand-in that allows about one message per second per channel and answers 429
with Retry-After beyond it. Nothing may be lost or duplicated; the total time should be
close to the limit (200 / 5 channels = 40 messages per channel, so about 40 s)."""

from __future__ import annotations

import time
from collections import Counter

from bench.common import deps_for, table, temp_dir
from bot.auditlog import Source
from bot.unit import Actor
from devtools.standin import StandInSlack


def run(messages: int = 200, channels: int = 5, rate: float = 1.0) -> str:
    slack = StandInSlack().serve()
    slack.rate_limit_per_channel = rate
    tmp = temp_dir()
    deps, engine = deps_for(tmp, slack)
    names = [f"C0BENCH{i}" for i in range(channels)]
    try:
        with deps.unit(Actor.app(Source.CLI)) as unit:
            for n in range(messages):
                unit.post(
                    channel=names[n % channels],
                    purpose="bench",
                    message={"text": f"message {n}", "blocks": []},
                )
        started = time.monotonic()
        deps.relay.start()
        deps.relay.kick()
        deadline = started + 600
        while len(slack.calls_to("chat.postMessage")) < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # anything sent twice would show up now
        deps.relay.stop()
    finally:
        slack.close()
        engine.dispose()
    calls = slack.calls_to("chat.postMessage")
    counts = Counter(c.args["text"] for c in calls)
    in_order = all(
        [int(c.args["text"].split()[1]) for c in calls if c.args["channel"] == ch]
        == sorted(int(c.args["text"].split()[1]) for c in calls if c.args["channel"] == ch)
        for ch in names
    )
    ideal = messages / channels / rate
    rows = [
        [
            messages,
            channels,
            len(counts),
            sum(v - 1 for v in counts.values()),
            messages - len(counts),
            "yes" if in_order else "NO",
            ideal,
            elapsed,
            elapsed / ideal,
        ]
    ]
    return table(
        "Delivery under a 1 msg/s/channel rate limit",
        [
            "queued",
            "channels",
            "delivered",
            "duplicates",
            "lost",
            "in order",
            "ideal s",
            "took s",
            "took/ideal",
        ],
        rows,
    )


if __name__ == "__main__":
    print(run())
