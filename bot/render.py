"""Templates in, validated Block Kit out.

Every `{{ value }}` is escaped twice by default: for Slack mrkdwn (`&`, `<`, `>`, so a form
field cannot smuggle in `<!channel>` or a mention) and for a JSON string (so it cannot break
the document). Values that are already safe markup (a mention we built from a checked user
id, a date token) are wrapped in `Raw` by the filters below and pass through untouched.
Whatever a template produces is parsed and validated with slack_sdk's models before use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.config import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "templates"
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 3000
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")


class TemplateError(Exception):
    """A template rendered something that is not valid JSON or not valid Block Kit."""


class Raw(str):
    """A string that is already safe for the JSON string and the mrkdwn it lands in."""


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_inner(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _finalize(value: Any) -> Any:
    if isinstance(value, Raw):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if value is None:
        return ""
    return _json_inner(escape_mrkdwn(str(value)))


def _plain(value: Any) -> Raw:
    """For plain_text fields and input values: JSON-escaped, shown as typed."""
    return Raw(_json_inner("" if value is None else str(value)))


def _clip(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _mention(user_id: str) -> Raw:
    if not USER_ID.match(user_id or ""):
        return Raw(_json_inner(escape_mrkdwn(str(user_id))))
    return Raw(f"<@{user_id}>")


def _channel(channel_id: str) -> Raw:
    if not CHANNEL_ID.match(channel_id or ""):
        return Raw(_json_inner(escape_mrkdwn(str(channel_id))))
    return Raw(f"<#{channel_id}>")


def _slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> Raw:
    """Slack shows `<!date^…>` in each reader's own time zone; the fallback is UTC."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Raw(f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>")


def _slack_through(end: datetime) -> Raw:
    """An end-exclusive midnight (coverage ends at the start of its end date) as the last day
    it includes, with the weekday: "through Friday, December 6th" for an end of Dec 7 00:00.
    The token points at midday of that last day, so every reader within 12 hours of the
    sender's zone sees the same day; the fallback is that day in UTC."""
    midday = end - timedelta(hours=12)
    fallback = f"{midday:%A %b} {midday.day}"
    return Raw(f"<!date^{int(midday.timestamp())}^{{date_long_pretty}}|{fallback}>")


slack_date = _slack_date  # for services that build mrkdwn themselves (`/case show` sections)
slack_through = _slack_through

# The only `<…>` tokens our messages may carry, each built by a filter above: a user or
# channel mention, a date, an https link. Any other `<` in mrkdwn is a template slip
# (`<role>` written raw) that Slack would read as a link.
_OUR_TOKEN = re.compile(
    r"<@[UW][A-Z0-9]{2,30}>|<#[CGD][A-Z0-9]{2,30}>|<!date\^\d+\^[^|<>]*\|[^<>]*>|<https://[^|<>\s]+\|[^<>]*>"
)


def stray_markup(text: str) -> list[str]:
    """Each `<` in mrkdwn text that does not open one of our well-formed tokens, in context."""
    bare = _OUR_TOKEN.sub("", text)
    if "<" not in bare:  # the usual case: no walk over every character
        return []
    return [bare[max(0, i - 20) : i + 20] for i, ch in enumerate(bare) if ch == "<"]


def _check_mrkdwn(name: str, node: Any) -> None:
    """Refuse a rendered document whose mrkdwn carries a stray `<` (see stray_markup)."""
    if isinstance(node, dict):
        text = node.get("text") if node.get("type") == "mrkdwn" else None
        if isinstance(text, str) and "<" in text and (stray := stray_markup(text)):
            raise TemplateError(f"{name}: a raw '<' in mrkdwn text (write &lt;): {stray[0]!r}")
        for value in node.values():
            if isinstance(value, dict | list):  # only containers can hold mrkdwn
                _check_mrkdwn(name, value)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _check_mrkdwn(name, value)


_ESCAPED_MENTION = re.compile(r"&lt;([@#])([UWC][A-Z0-9]{2,30})&gt;")


def _with_mentions(value: Any) -> Raw:
    """Our own sentences that name people as `<@U123>`: escape everything, then let
    well-formed user and channel mentions through (never `<!channel>` or a link)."""
    escaped = escape_mrkdwn("" if value is None else str(value))
    return Raw(_json_inner(_ESCAPED_MENTION.sub(r"<\1\2>", escaped)))


def _trusted(value: Any) -> Raw:
    """mrkdwn a service built with escape_mrkdwn around every user-supplied part."""
    return Raw(_json_inner("" if value is None else str(value)))


def _tojson(value: Any) -> Raw:
    """A whole JSON value (list, object) built in Python, e.g. option lists."""
    return Raw(json.dumps(value, ensure_ascii=False))


def _link(url: str, text: str) -> Raw:
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return Raw(_json_inner(f"<{safe_url}|{escape_mrkdwn(text)}>"))


class Renderer:
    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(template_dir)),
            undefined=StrictUndefined,
            finalize=_finalize,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            plain=_plain,
            clip=_clip,
            mention=_mention,
            channel=_channel,
            slackdate=_slack_date,
            through=_slack_through,
            tojson=_tojson,
            link=_link,
            with_mentions=_with_mentions,
            trusted=_trusted,
        )
        self.env.filters["chunks"] = mrkdwn_chunks
        self._passed: set[Hashable] = set()  # _shape of blocks slack_sdk accepted unchanged

    def _render(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        text = self.env.get_template(name).render(**context)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{name} did not render valid JSON: {exc}") from exc

    def message(self, name: str, /, **context: Any) -> dict[str, Any]:
        """A message: `text` (the notification line) and validated `blocks`.

        A message for a case's home may also give `restricted`: the line it shows instead of
        its blocks while the channel has readers off the team (ids, kind, status, people;
        see bot/audience.py). It is never sent to Slack as a field."""
        doc = self._render(f"{name}.json.j2", context)
        text = doc.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TemplateError(f"{name}: a message needs a non-empty top-level text")
        restricted = doc.get("restricted")
        if restricted is not None and (not isinstance(restricted, str) or not restricted.strip()):
            raise TemplateError(f"{name}: `restricted` must be a non-empty line")
        blocks = doc.get("blocks", [])
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            raise TemplateError(f"{name}: {len(blocks)} blocks, Slack allows {MAX_MESSAGE_BLOCKS}")
        doc["blocks"] = [self._block(name, b) for b in blocks]
        _check_mrkdwn(name, {"type": "mrkdwn", "text": text})  # the notification line is mrkdwn too
        _check_mrkdwn(name, doc["blocks"])
        return doc

    def _block(self, name: str, block: dict[str, Any]) -> dict[str, Any]:
        """_validate_block, skipped for a block shaped like one that already passed unchanged.

        slack_sdk's checks look at a block's structure, its ids and enumerated values, and the
        lengths of its texts (section text, button value, url), never at what the texts say;
        so a block equal to a validated one in all of those (its `_shape`) passes too. A sweep
        posting hundreds of prompts from one template validates a handful of shapes, not each
        prompt. Only blocks that slack_sdk returned exactly as given are remembered, so the
        output is the same either way."""
        shape = _shape(block)
        if shape in self._passed:
            _check_text_length(name, block)
            return block
        out = _validate_block(name, block)
        if out == block:
            if len(self._passed) >= MAX_SHAPES:
                self._passed.clear()
            self._passed.add(shape)
        return out

    def view(self, name: str, /, **context: Any) -> dict[str, Any]:
        """A modal or Home tab, validated with slack_sdk's View model.

        Like `_block`, a view shaped like one that slack_sdk already returned unchanged is
        not parsed again (the View model's own checks are lengths too): building the model
        of a form cost more than everything else in opening it."""
        doc = self._render(f"{name}.json.j2", context)
        if len(doc.get("blocks", [])) > MAX_VIEW_BLOCKS:
            raise TemplateError(f"{name}: more than {MAX_VIEW_BLOCKS} blocks")
        shape = (_VIEW, _shape(doc))
        if shape in self._passed:
            view = doc
        else:
            try:
                view = View(**doc).to_dict()
            except Exception as exc:
                raise TemplateError(f"{name}: invalid view: {exc}") from exc
            if view == doc:
                if len(self._passed) >= MAX_SHAPES:
                    self._passed.clear()
                self._passed.add(shape)
        _check_mrkdwn(name, view)
        return view


def _validate_block(name: str, block: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = Block.parse(block)
        if parsed is None:
            raise TemplateError(f"{name}: unknown block {block.get('type')!r}")
        out = parsed.to_dict()
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"{name}: invalid block {block.get('type')!r}: {exc}") from exc
    _check_text_length(name, out)
    return out


def _check_text_length(name: str, block: dict[str, Any]) -> None:
    text = block.get("text")
    if isinstance(text, dict) and len(text.get("text", "")) > MAX_TEXT:
        raise TemplateError(f"{name}: section text over {MAX_TEXT} characters")


# Keys whose string values slack_sdk checks only for length (and presence); a view's
# private_metadata (the case or record it is about) too.
_FREE_TEXT = frozenset({"text", "value", "url", "alt_text", "image_url", "private_metadata"})
_DICT, _LIST, _LENGTH, _VIEW = "dict", "list", "length", "view"
MAX_SHAPES = 4096


def _shape(node: Any, key: str | None = None) -> Hashable:
    """What Block Kit validation depends on: the structure, every value with its type,
    except free texts (_FREE_TEXT), which count by their length only."""
    kind = type(node)
    if kind is dict:
        return (_DICT, tuple([(k, _shape(v, k)) for k, v in node.items()]))
    if kind is list:
        return (_LIST, tuple([_shape(v) for v in node]))
    if kind is str and key in _FREE_TEXT:
        return (_LENGTH, len(node))
    return (kind, node)


def mrkdwn_chunks(value: Any, limit: int = 2800) -> list[str]:
    """Free text cut into parts that each fit one section block once escaped.

    Escaping can make text up to four times longer (`<` becomes `&lt;`), so clipping the
    raw text is not enough. Cuts fall on a line break or space where one is near. Use as
    `{% for part in text|chunks %}` with one section per part.
    """
    text = "" if value is None else str(value)
    parts: list[str] = []
    start, size, last_break = 0, 0, -1
    for index, char in enumerate(text):
        cost = len(escape_mrkdwn(char))
        if size + cost > limit:
            cut = last_break + 1 if last_break >= start and index - last_break < 400 else index
            parts.append(text[start:cut])
            start = cut
            size = len(escape_mrkdwn(text[start:index]))
            last_break = -1
        if char in " \n":
            last_break = index
        size += cost
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()] or [""]
