// Slack mrkdwn to HTML: *bold*, _italic_, ~strike~, `code`, ```blocks```, > quotes, links,
// <@U…> mentions and <#C…> channels as names, <!date^…> in the reader's time zone, :emoji:.
"use strict";

const EMOJI = {
  white_check_mark: "✅", rotating_light: "🚨", warning: "⚠️", red_circle: "🔴", no_entry_sign: "🚫",
  hourglass_flowing_sand: "⏳", hourglass: "⌛", heavy_multiplication_x: "✖️", eyes: "👀",
  outbox_tray: "📤", no_bell: "🔕", large_yellow_circle: "🟡", large_green_circle: "🟢",
  calendar: "📆", bell: "🔔", arrows_counterclockwise: "🔄", alarm_clock: "⏰", pill: "💊",
  memo: "📝", wave: "👋", bust_in_silhouette: "👤", busts_in_silhouette: "👥", lock: "🔒",
  page_facing_up: "📄", clipboard: "📋", inbox_tray: "📥", x: "❌", heavy_check_mark: "✔️",
  information_source: "ℹ️", point_right: "👉", speech_balloon: "💬", handshake: "🤝",
  arrow_right: "➡️", chart_with_upwards_trend: "📈", chart_with_downwards_trend: "📉",
  orange_circle: "🟠", white_circle: "⚪", large_blue_circle: "🔵", black_circle: "⚫",
};

function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// Slack sends &amp; &lt; &gt; in text; decode before escaping for HTML.
function unslack(s) {
  return String(s).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function emojify(html) {
  return html.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function partsIn(epochSeconds, tz) {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, year: "numeric", month: "numeric", day: "numeric", hour: "numeric",
    minute: "2-digit", second: "2-digit", weekday: "long", hour12: true,
  });
  const p = {};
  for (const part of f.formatToParts(new Date(epochSeconds * 1000))) p[part.type] = part.value;
  return p;
}

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"], v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function dayNumber(p) { return Date.UTC(+p.year, +p.month - 1, +p.day) / 86400000; }

// Format as Slack does for <!date^ts^{token} …|fallback>, in tz, with "now" the app's clock.
function slackDate(epoch, format, tz, now) {
  const p = partsIn(epoch, tz);
  const month = MONTHS[+p.month - 1];
  const time = `${p.hour}:${p.minute} ${p.dayPeriod}`;
  const rel = (fallback) => {
    const diff = dayNumber(p) - dayNumber(partsIn(now, tz));
    return diff === 0 ? "Today" : diff === -1 ? "Yesterday" : diff === 1 ? "Tomorrow" : fallback;
  };
  const long = `${p.weekday}, ${month} ${ordinal(+p.day)}, ${p.year}`;
  const plain = `${month} ${ordinal(+p.day)}, ${p.year}`;
  const short = `${month.slice(0, 3)} ${+p.day}, ${p.year}`;
  const tokens = {
    date_num: `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`,
    date: plain, date_short: short, date_long: long,
    date_pretty: rel(plain), date_short_pretty: rel(short), date_long_pretty: rel(long),
    time, time_secs: `${p.hour}:${p.minute}:${p.second} ${p.dayPeriod}`,
    ago: agoText(now - epoch),
  };
  return format.replace(/\{(\w+)\}/g, (m, t) => (t in tokens ? tokens[t] : m));
}

function agoText(seconds) {
  const future = seconds < 0, s = Math.abs(seconds);
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
  for (const [n, name] of units) {
    if (s >= n) {
      const k = Math.floor(s / n);
      return future ? `in ${k} ${name}${k > 1 ? "s" : ""}` : `${k} ${name}${k > 1 ? "s" : ""} ago`;
    }
  }
  return future ? "in a moment" : "just now";
}

// ctx: {people: {id: person}, channels: {id: name}, me, tz, now}
function special(inner, ctx) {
  const [target, label] = splitOnce(inner, "|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const p = ctx.people[id];
    const name = p ? p.name : (label || id);
    return `<span class="mention${id === ctx.me ? " me" : ""}" data-user="${esc(id)}">@${esc(name)}</span>`;
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    return `<span class="channel-ref">#${esc(ctx.channels[id] || label || id)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const parts = target.split("^");
    const epoch = Number(parts[1]);
    const text = slackDate(epoch, unslack(parts[2] || "{date_short} {time}"), ctx.tz, ctx.now);
    return `<time class="date" data-epoch="${epoch}" title="${esc(new Date(epoch * 1000).toISOString())}">${esc(text)}</time>`;
  }
  if (target.startsWith("!")) {
    return `<span class="mention">@${esc(label || target.slice(1).split("^")[0])}</span>`;
  }
  const href = unslack(target);
  const safe = /^(https?:|mailto:|\/)/i.test(href) ? href : "#";
  return `<a href="${esc(safe)}" target="_blank" rel="noopener">${esc(unslack(label || target))}</a>`;
}

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

function inline(text, ctx) {
  // Placeholders keep code and <...> tokens out of the emphasis rules.
  const slots = [];
  const hold = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let s = text.replace(/`([^`\n]+)`/g, (m, code) => hold(`<code>${esc(unslack(code))}</code>`));
  s = s.replace(/<([^<>\n]+)>/g, (m, inner) => hold(special(inner, ctx)));
  s = esc(unslack(s));
  // Like Slack: a marker opens after a non-word character and closes before one.
  const edge = "(^|[^\\w*~])";
  const end = "(?![\\w])";
  s = s.replace(new RegExp(`${edge}\\*([^*\\n]+?)\\*${end}`, "g"), "$1<b>$2</b>");
  s = s.replace(new RegExp(`${edge}_([^_\\n]+?)_${end}`, "g"), "$1<i>$2</i>");
  s = s.replace(new RegExp(`${edge}~([^~\\n]+?)~${end}`, "g"), "$1<s>$2</s>");
  s = emojify(s);
  return s.replace(/\u0000(\d+)\u0000/g, (m, i) => slots[+i]);
}

function mrkdwn(text, ctx) {
  if (!text) return "";
  const out = [];
  const chunks = String(text).split("```");
  chunks.forEach((chunk, i) => {
    if (i % 2 === 1) { out.push(`<pre>${esc(unslack(chunk.replace(/^\n/, "")))}</pre>`); return; }
    const lines = chunk.split("\n");
    let quote = [];
    const flush = () => { if (quote.length) { out.push(`<blockquote>${quote.join("<br>")}</blockquote>`); quote = []; } };
    const rendered = [];
    lines.forEach((line) => {
      const q = line.match(/^(&gt;|>)\s?(.*)$/);
      if (q) { if (rendered.length) { out.push(rendered.join("<br>")); rendered.length = 0; } quote.push(inline(q[2], ctx)); return; }
      flush();
      const bullet = line.match(/^(\s*)([•◦▪\-*]|\d+[.)])\s+(.*)$/);
      if (bullet && !/^\s*\*[^*\s].*\*/.test(line.trim()) ) {
        const mark = /\d/.test(bullet[2]) ? bullet[2] : "•";
        rendered.push(`<span class="li" style="padding-left:${bullet[1].length * 8 + 4}px"><span class="bullet">${esc(mark)}</span>${inline(bullet[3], ctx)}</span>`);
      } else {
        rendered.push(inline(line, ctx));
      }
    });
    flush();
    if (rendered.length) out.push(rendered.join("<br>"));
  });
  return out.join("");
}

function plainText(obj) {
  if (!obj) return "";
  return emojify(esc(obj.text || ""));
}

function textObject(obj, ctx) {
  if (!obj) return "";
  return obj.type === "mrkdwn" ? mrkdwn(obj.text, ctx) : plainText(obj);
}
