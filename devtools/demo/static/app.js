// The demo page: picks who you are, shows their Slack (channels, threads, the app's DM and
// Home tab, modals) from /api/state, and turns what they do into /api/* calls, which the
// demo server sends to the app as Slack's signed requests.
"use strict";

const $ = (sel) => document.querySelector(sel);
const S = {
  user: localStorage.getItem("demo.user") || "U0PRIYA",
  pane: JSON.parse(localStorage.getItem("demo.pane") || '{"kind":"channel","id":"C0CARE"}'),
  tab: "messages",
  thread: null, // {channel, ts}
  state: null,
  version: -1,
  fetchedAt: 0,
  poll: null,
  modalKey: "",
  modalStore: {},
  messageStore: {},
  busy: false,
};

async function api(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: S.user, ...body }) });
  const data = await r.json().catch(() => ({ ok: false, error: `HTTP ${r.status}` }));
  if (!r.ok || data.ok === false) toast(data.error || `HTTP ${r.status}`);
  return data;
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// -- polling -------------------------------------------------------------------------------

async function pollLoop() {
  const me = S.user;
  const controller = new AbortController();
  S.poll = controller;
  let since = -1;
  while (S.poll === controller) {
    try {
      const r = await fetch(`/api/state?user=${encodeURIComponent(me)}&since=${since}`, { signal: controller.signal });
      const st = await r.json();
      if (S.poll !== controller || st.me !== S.user) return;
      since = st.version;
      S.state = st;
      S.version = st.version;
      S.fetchedAt = Date.now();
      render();
    } catch (e) {
      if (controller.signal.aborted) return;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

function restartPolling() {
  if (S.poll) S.poll.abort();
  S.state = null;
  pollLoop();
}

// -- helpers -------------------------------------------------------------------------------

function me() { return S.state.people.find((p) => p.id === S.user); }
function appNow() { return S.state.clock.now + (Date.now() - S.fetchedAt) / 1000; }
function ctx() {
  const people = {};
  S.state.people.forEach((p) => { people[p.id] = p; });
  const channels = {};
  S.state.channels.forEach((c) => { channels[c.id] = c.name; });
  return { people, channels, me: S.user, tz: me().tz, now: appNow() };
}
function dm() { return S.state.channels.find((c) => c.is_im); }
function channelsById() { const m = {}; S.state.channels.forEach((c) => { m[c.id] = c; }); return m; }
function paneChannel() {
  if (S.pane.kind === "app") return dm() ? dm().id : null;
  return S.pane.id;
}
function author(m) {
  if (m.is_bot) return { name: S.state.bot.name, bot: true };
  if (m.user === "USLACKBOT") return { name: "Slackbot", bot: true };
  const p = S.state.people.find((x) => x.id === m.user);
  return { name: p ? p.name : m.user, bot: false };
}
function timeOf(ts) {
  return slackDate(Math.floor(Number(ts)), "{time}", me().tz, appNow());
}
function dayOf(ts) {
  return slackDate(Math.floor(Number(ts)), "{date_long_pretty}", me().tz, appNow());
}
function initials(name) {
  return name.replace(/^Dr\.\s*/, "").split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase();
}
function colorOf(id) {
  let n = 0; for (const c of id) n = (n * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${n}, 45%, 42%)`;
}

// -- rendering -----------------------------------------------------------------------------

function render() {
  if (!S.state) return;
  renderTop();
  renderSidebar();
  renderMain();
  renderThread();
  renderModal();
}

function renderTop() {
  const who = $("#who");
  if (who.options.length !== S.state.people.length) {
    who.replaceChildren(...S.state.people.map((p) => h("option", { value: p.id }, `${p.name} — ${p.title}`)));
  }
  who.value = S.user;
  tickClock();
  const clockOk = S.state.clock.available;
  document.querySelectorAll("#clock-buttons button").forEach((b) => {
    b.disabled = !clockOk;
    b.title = clockOk ? "Move the app's clock ahead" : `Clock control unavailable: ${S.state.clock.reason}`;
  });
  const o = S.state.outage;
  const status = $("#outage-status");
  if (o) {
    const left = Math.max(0, Math.round(o.left - (Date.now() - S.fetchedAt) / 1000));
    status.textContent = `Stand-in Slack answering ${o.status} for ${left} s more`;
    status.className = "outage-status on";
    $("#outage").textContent = "Mend Slack";
  } else {
    status.textContent = "";
    status.className = "outage-status";
    $("#outage").textContent = "Break Slack";
  }
  document.body.classList.toggle("restarting", S.state.app !== "running");
}

function tickClock() {
  if (!S.state) return;
  const c = S.state.clock;
  const el = $("#clock");
  if (!c.available) { el.textContent = "Clock control unavailable"; el.title = c.reason; el.className = "clock off"; return; }
  const now = appNow();
  const shift = c.offset ? ` (+${fmtDuration(c.offset)})` : "";
  el.textContent = `🕒 ${slackDate(Math.floor(now), "{date_short} {time}", me().tz, now)}${shift}`;
  el.className = c.offset ? "clock moved" : "clock";
}

function fmtDuration(s) {
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
  return [d ? `${d} d` : "", hr ? `${hr} h` : ""].filter(Boolean).join(" ") || `${Math.round(s / 60)} min`;
}

function renderSidebar() {
  const p = me();
  $("#me").replaceChildren(avatar(p.id, p.name), h("div", {}, h("div", { className: "me-name" }, p.name), h("div", { className: "muted small" }, p.title)));
  const list = $("#channel-list");
  const chans = S.state.channels.filter((c) => !c.is_im).sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(...chans.map((c) => h("div", {
    className: `nav-item${S.pane.kind === "channel" && S.pane.id === c.id ? " active" : ""}`,
    "data-channel": c.id,
    onclick: () => openPane({ kind: "channel", id: c.id }),
  }, h("span", { className: "hash" }, c.is_private ? "🔒" : "#"), c.name)));
  const d = dm();
  $("#app-list").replaceChildren(h("div", {
    className: `nav-item${S.pane.kind === "app" ? " active" : ""}`, "data-nav": "app",
    onclick: () => openPane({ kind: "app" }),
  }, h("span", { className: "app-dot" }, "C"), S.state.bot.name,
    d && unreadDm(d) ? h("span", { className: "badge" }, String(unreadDm(d))) : null));
}

function unreadDm(d) {
  if (S.pane.kind === "app" && S.tab === "messages") { S.seenDm = countTop(d.id); return 0; }
  return Math.max(0, countTop(d.id) - (S.seenDm || 0));
}
function countTop(channel) { return S.state.messages.filter((m) => m.channel === channel && !m.thread_ts).length; }

function avatar(id, name, bot) {
  return h("div", { className: `avatar${bot ? " bot" : ""}`, style: bot ? "" : `background:${colorOf(id)}` }, bot ? "C" : initials(name));
}

function openPane(pane) {
  S.pane = pane;
  localStorage.setItem("demo.pane", JSON.stringify(pane));
  S.thread = null;
  if (pane.kind === "app" && S.tab === "home") api("/api/home", {});
  S.stickBottom = true;
  render();
}

function renderMain() {
  const byId = channelsById();
  if (S.pane.kind === "channel" && !byId[S.pane.id]) S.pane = { kind: "channel", id: (S.state.channels.find((c) => !c.is_im) || {}).id };
  const header = $("#main-header");
  const tabs = $("#app-tabs");
  if (S.pane.kind === "app") {
    header.replaceChildren(h("div", { className: "title" }, avatar("bot", "CareThread", true), h("strong", {}, S.state.bot.name), h("span", { className: "app-badge" }, "APP")));
    tabs.hidden = false;
    tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.tab === S.tab));
  } else {
    const c = byId[S.pane.id];
    header.replaceChildren(h("div", { className: "title" }, h("strong", {}, `${c.is_private ? "🔒" : "#"} ${c.name}`),
      h("span", { className: "muted small" }, `${c.members.filter((m) => m !== S.state.bot.id).length} people${c.members.includes(S.state.bot.id) ? " · CareThread is here" : ""}`)));
    tabs.hidden = true;
  }
  const showHome = S.pane.kind === "app" && S.tab === "home";
  $("#home").hidden = !showHome;
  $("#messages").hidden = showHome;
  $("#composer-box").hidden = showHome;
  if (showHome) { renderHome(); return; }
  const channel = paneChannel();
  const list = $("#messages");
  const atBottom = S.stickBottom || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const msgs = S.state.messages.filter((m) => m.channel === channel && (!m.thread_ts || m.thread_ts === m.ts));
  const replies = repliesByParent(channel);
  let lastDay = "";
  const nodes = [];
  msgs.forEach((m) => {
    const day = dayOf(m.ts);
    if (day !== lastDay) { nodes.push(h("div", { className: "day-divider" }, h("span", {}, day))); lastDay = day; }
    nodes.push(messageNode(m, replies[m.ts] || []));
  });
  if (!msgs.length) nodes.push(h("div", { className: "empty muted" }, S.pane.kind === "app" ? "Your DM with CareThread. Replies to you and files you asked for arrive here." : "No messages yet. Try a slash command below, e.g. /case help."));
  list.replaceChildren(...nodes);
  if (atBottom) list.scrollTop = list.scrollHeight;
  S.stickBottom = false;
  $("#composer").placeholder = S.pane.kind === "app" ? "Message CareThread (commands work here too)" : `Message #${channelsById()[channel].name}, or type / for commands`;
  $("#composer-hint").textContent = `Mention with @handle: ${S.state.people.map((p) => "@" + p.handle).join(" ")}`;
}

function repliesByParent(channel) {
  const out = {};
  S.state.messages.forEach((m) => {
    if (m.channel === channel && m.thread_ts && m.thread_ts !== m.ts) (out[m.thread_ts] = out[m.thread_ts] || []).push(m);
  });
  return out;
}

// Message nodes are kept while their message is unchanged, so an update elsewhere does not
// rebuild (and lose the focus or the selection in) every message.
const NODES = new Map();
function messageNode(m, replies, inThread) {
  const key = `${inThread ? "t" : "m"}:${m.channel}:${m.ts}`;
  const last = replies.length ? replies[replies.length - 1].ts : "";
  const sig = JSON.stringify([m, replies.length, last, S.user, S.pane.kind, S.state.clock.offset]);
  const kept = NODES.get(key);
  if (kept && kept.sig === sig) return kept.node;
  const node = buildMessage(m, replies, inThread);
  NODES.set(key, { sig, node });
  return node;
}

function buildMessage(m, replies, inThread) {
  const a = author(m);
  const renderer = new BlockRenderer({
    ctx: ctx(), surface: "message", store: (S.messageStore[m.ts] = S.messageStore[m.ts] || {}),
    people: S.state.people, channels: Object.fromEntries(S.state.channels.filter((c) => !c.is_im).map((c) => [c.id, c.name])),
    onAction: (action) => api("/api/action", { where: { channel: m.channel, ts: m.ts }, action, values: {} }),
  });
  const body = m.blocks && m.blocks.length ? renderer.blocks(m.blocks) : h("div", { className: "bk-text", html: mrkdwn(m.text, ctx()) });
  const files = (m.files || []).map((f) => h("a", { className: "file", href: f.url, download: f.name, "data-file": f.id },
    h("span", { className: "file-icon" }, (f.name.split(".").pop() || "file").toUpperCase()),
    h("span", {}, h("div", { className: "file-name" }, f.name), h("div", { className: "muted small" }, `${(f.size / 1024).toFixed(1)} KB · Download`))));
  const node = h("div", {
    className: `msg${m.ephemeral ? " ephemeral" : ""}${m.is_bot ? " from-bot" : ""}`,
    "data-ts": m.ts, "data-channel": m.channel, "data-user": m.user,
  },
  avatar(m.user, a.name, a.bot),
  h("div", { className: "msg-body" },
    h("div", { className: "msg-head" }, h("strong", {}, a.name), a.bot ? h("span", { className: "app-badge" }, "APP") : null,
      h("span", { className: "muted small" }, timeOf(m.ts)), m.edited ? h("span", { className: "muted small" }, "(edited)") : null),
    m.ephemeral ? h("div", { className: "only-you" }, "👁 Only visible to you") : null,
    body, files,
    !inThread && replies.length ? h("button", { className: "replies-link", onclick: () => openThread(m) },
      `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`, h("span", { className: "muted small" }, ` Last reply ${timeOf(replies[replies.length - 1].ts)}`)) : null),
  !inThread && !m.ephemeral && S.pane.kind === "channel" ? h("button", { className: "reply-action", title: "Reply in thread", onclick: () => openThread(m) }, "💬") : null);
  return node;
}

function openThread(m) {
  S.thread = { channel: m.channel, ts: m.ts };
  S.threadStick = true;
  render();
  $("#thread-composer").focus();
}

function renderThread() {
  const pane = $("#thread");
  if (!S.thread || (S.pane.kind === "app" && S.tab === "home")) { pane.hidden = true; return; }
  const parent = S.state.messages.find((m) => m.channel === S.thread.channel && m.ts === S.thread.ts);
  if (!parent) { pane.hidden = true; return; }
  pane.hidden = false;
  const ch = channelsById()[S.thread.channel];
  $("#thread-where").textContent = ch.is_im ? "CareThread" : `#${ch.name}`;
  const list = $("#thread-messages");
  const atBottom = S.threadStick || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const replies = repliesByParent(S.thread.channel)[S.thread.ts] || [];
  list.replaceChildren(messageNode(parent, [], true),
    h("div", { className: "reply-count muted small" }, `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`),
    ...replies.map((r) => messageNode(r, [], true)));
  if (atBottom) list.scrollTop = list.scrollHeight;
  S.threadStick = false;
}

function renderHome() {
  const home = S.state.home;
  const box = $("#home");
  if (!home) { box.replaceChildren(h("div", { className: "empty muted" }, "Opening the Home tab…")); return; }
  const key = `${home.id}:${home.hash}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const renderer = new BlockRenderer({
    ctx: ctx(), surface: "home", store: (S.homeStore = S.homeStore || {}), people: S.state.people,
    onAction: (action) => api("/api/action", { where: { view_id: home.id }, action, values: viewValues(home.blocks, S.homeStore) }),
  });
  box.replaceChildren(renderer.blocks(home.blocks));
}

function renderModal() {
  const view = S.state.modal;
  const back = $("#modal-backdrop");
  if (!view) { back.hidden = true; S.modalKey = ""; return; }
  const key = `${view.id}:${view.hash}:${JSON.stringify(view.errors || {})}`;
  if (S.modalKey === key && !back.hidden) return;
  if (!S.modalKey.startsWith(view.id + ":")) S.modalStore = {}; // a new view; an update keeps what was typed
  S.modalKey = key;
  back.hidden = false;
  const renderer = new BlockRenderer({
    ctx: ctx(), surface: "modal", store: S.modalStore, errors: view.errors, people: S.state.people,
    channels: Object.fromEntries(S.state.channels.filter((c) => !c.is_im).map((c) => [c.id, c.name])),
    onAction: (action) => api("/api/action", { where: { view_id: view.id }, action, values: viewValues(view.blocks, S.modalStore) }),
  });
  const submit = view.submit ? h("button", { className: "bk-button primary modal-submit", onclick: () => submitModal(view) }, h("span", { html: plainText(view.submit) })) : null;
  $("#modal").replaceChildren(
    h("div", { className: "modal-head" }, h("span", { className: "modal-title", html: plainText(view.title) }),
      h("button", { className: "icon modal-x", "aria-label": "Close", onclick: () => api("/api/close", { view_id: view.id }) }, "✕")),
    h("div", { className: "modal-body" }, renderer.blocks(view.blocks)),
    h("div", { className: "modal-foot" },
      h("button", { className: "bk-button modal-close", onclick: () => api("/api/close", { view_id: view.id }) }, h("span", { html: plainText(view.close || { text: "Cancel" }) })),
      submit));
}

async function submitModal(view) {
  const errors = clientErrors(view.blocks, S.modalStore);
  if (Object.keys(errors).length) {
    S.modalKey = "";
    S.state.modal = { ...view, errors };
    renderModal();
    return;
  }
  const btn = $(".modal-submit");
  if (btn) btn.disabled = true;
  await api("/api/submit", { view_id: view.id, values: viewValues(view.blocks, S.modalStore) });
  if (btn) btn.disabled = false;
}

// -- composing -----------------------------------------------------------------------------

async function send(textarea, threadTs) {
  const text = textarea.value.trim();
  if (!text) return;
  const channel = threadTs ? S.thread.channel : paneChannel();
  textarea.value = "";
  $("#command-help").hidden = true;
  if (text.startsWith("/")) {
    await api("/api/command", { channel, text, thread_ts: threadTs || null });
  } else {
    await api("/api/message", { channel, text, thread_ts: threadTs || null });
  }
  if (threadTs) S.threadStick = true; else S.stickBottom = true;
}

function commandHelp() {
  const box = $("#command-help");
  const text = $("#composer").value;
  if (!text.startsWith("/") || !S.state) { box.hidden = true; return; }
  const word = text.split(" ")[0];
  const matches = S.state.commands.filter((c) => c.command.startsWith(word));
  if (!matches.length) { box.hidden = true; return; }
  box.hidden = false;
  box.replaceChildren(h("div", { className: "muted small" }, "Commands · every one has help, e.g. /case help"),
    ...matches.map((c) => h("div", {
      className: "command-option", onmousedown: (e) => { e.preventDefault(); $("#composer").value = c.command + " "; commandHelp(); $("#composer").focus(); },
    }, h("strong", {}, c.command), " ", h("span", { className: "usage" }, c.usage_hint || ""), h("div", { className: "muted small" }, c.description))));
}

function bind() {
  $("#who").addEventListener("change", (e) => {
    S.user = e.target.value;
    localStorage.setItem("demo.user", S.user);
    S.thread = null; S.messageStore = {}; S.homeStore = {}; S.modalKey = ""; S.seenDm = 0;
    NODES.clear();
    S.stickBottom = true;
    $("#home").dataset.key = "";
    restartPolling();
    if (S.pane.kind === "app" && S.tab === "home") api("/api/home", {});
  });
  for (const [id, thread] of [["#composer", false], ["#thread-composer", true]]) {
    const ta = $(id);
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(ta, thread ? S.thread.ts : null); }
    });
    ta.addEventListener("input", () => { ta.style.height = "auto"; ta.style.height = Math.min(ta.scrollHeight, 160) + "px"; if (!thread) commandHelp(); });
  }
  $("#composer").addEventListener("blur", () => { setTimeout(() => { $("#command-help").hidden = true; }, 150); });
  $("#thread-close").addEventListener("click", () => { S.thread = null; render(); });
  $("#app-tabs").addEventListener("click", (e) => {
    const tab = e.target.closest("button")?.dataset.tab;
    if (!tab) return;
    S.tab = tab;
    $("#home").dataset.key = "";
    if (tab === "home") api("/api/home", {});
    S.stickBottom = true;
    render();
  });
  document.querySelectorAll("[data-advance]").forEach((b) => b.addEventListener("click", async () => {
    b.disabled = true;
    await api("/api/clock", { seconds: Number(b.dataset.advance) });
    b.disabled = false;
  }));
  $("#outage").addEventListener("click", () => {
    const on = S.state && S.state.outage;
    api("/api/outage", on ? { status: 0 } : { status: Number($("#outage-kind").value), seconds: Number($("#outage-seconds").value) });
  });
  $("#seed").addEventListener("click", async () => {
    const b = $("#seed"); b.disabled = true; b.textContent = "Loading…";
    const r = await api("/api/seed", {});
    b.disabled = false; b.textContent = "Load demo data";
    if (r.ok) toast(`Demo data loaded: case ${r.case} with its team`);
  });
  $("#reset").addEventListener("click", async () => {
    if (!window.confirm("Reset the demo? The app's database, every message and the clock start over.")) return;
    const b = $("#reset"); b.disabled = true; b.textContent = "Resetting…";
    S.thread = null; S.messageStore = {}; S.homeStore = {};
    NODES.clear();
    await api("/api/reset", {});
    b.disabled = false; b.textContent = "Reset";
  });
  // Permalinks to a message open its thread here.
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href*='/archives/']");
    if (!a) return;
    const m = a.getAttribute("href").match(/\/archives\/(\w+)\/p(\d+)/);
    if (!m || !S.state) return;
    e.preventDefault();
    const ts = m[2].slice(0, -6) + "." + m[2].slice(-6);
    const msg = S.state.messages.find((x) => x.channel === m[1] && x.ts === ts);
    if (!msg) { toast("That message is not in a conversation you are in."); return; }
    const c = channelsById()[m[1]];
    S.pane = c.is_im ? { kind: "app" } : { kind: "channel", id: m[1] };
    openThread(msg.thread_ts && msg.thread_ts !== msg.ts ? S.state.messages.find((x) => x.ts === msg.thread_ts) || msg : msg);
  });
  setInterval(() => { tickClock(); if (S.state && S.state.outage) renderTop(); }, 1000);
}

bind();
pollLoop();
