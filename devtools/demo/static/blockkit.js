// Block Kit to DOM: whatever blocks the app sends, rendered close to Slack, and the state of
// every input kept as Slack sends it back (view.state.values[block_id][action_id]).
"use strict";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "html") el.innerHTML = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "className") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const STATEFUL = new Set(["plain_text_input", "number_input", "email_text_input", "url_text_input",
  "static_select", "multi_static_select", "users_select", "multi_users_select", "conversations_select",
  "multi_conversations_select", "channels_select", "multi_channels_select", "checkboxes", "radio_buttons",
  "datepicker", "timepicker", "datetimepicker", "external_select"]);

function allOptions(el) {
  if (el.options) return el.options;
  return (el.option_groups || []).flatMap((g) => g.options || []);
}

function initialState(el) {
  const t = el.type;
  switch (t) {
    case "plain_text_input": case "number_input": case "email_text_input": case "url_text_input":
      return { type: t, value: el.initial_value ?? null };
    case "static_select": case "external_select":
      return { type: t, selected_option: el.initial_option || null };
    case "multi_static_select": case "checkboxes":
      return { type: t, selected_options: el.initial_options || [] };
    case "radio_buttons":
      return { type: t, selected_option: el.initial_option || null };
    case "users_select": return { type: t, selected_user: el.initial_user || null };
    case "multi_users_select": return { type: t, selected_users: el.initial_users || [] };
    case "conversations_select": return { type: t, selected_conversation: el.initial_conversation || null };
    case "multi_conversations_select": return { type: t, selected_conversations: el.initial_conversations || [] };
    case "channels_select": return { type: t, selected_channel: el.initial_channel || null };
    case "multi_channels_select": return { type: t, selected_channels: el.initial_channels || [] };
    case "datepicker": return { type: t, selected_date: el.initial_date || null };
    case "timepicker": return { type: t, selected_time: el.initial_time || null };
    case "datetimepicker": return { type: t, selected_date_time: el.initial_date_time || null };
    default: return { type: t };
  }
}

// A kept value survives a views.update only if it still fits the new element.
function stillFits(state, el) {
  if (!state || state.type !== el.type) return false;
  const values = new Set(allOptions(el).map((o) => o.value));
  if ("selected_option" in state) return !state.selected_option || values.has(state.selected_option.value);
  if ("selected_options" in state) return state.selected_options.every((o) => values.has(o.value));
  return true;
}

function isEmpty(state) {
  if (!state) return true;
  for (const k of ["value", "selected_option", "selected_user", "selected_date", "selected_time",
    "selected_conversation", "selected_channel", "selected_date_time"]) {
    if (k in state) return state[k] === null || state[k] === "" || state[k] === undefined;
  }
  for (const k of ["selected_options", "selected_users", "selected_conversations", "selected_channels"]) {
    if (k in state) return !state[k] || state[k].length === 0;
  }
  return false;
}

class BlockRenderer {
  // opts: {ctx, surface, store, errors, onAction, people, channels, keepStore}
  constructor(opts) { this.o = opts; }

  blocks(blocks) {
    const frag = h("div", { className: "bk-blocks" });
    (blocks || []).forEach((b, i) => {
      const block = { ...b, block_id: b.block_id || `auto_${i}` };
      const el = this.block(block);
      if (el) frag.append(el);
    });
    return frag;
  }

  block(b) {
    const ctx = this.o.ctx;
    switch (b.type) {
      case "section": {
        const body = h("div", { className: "bk-section-body" });
        if (b.text) body.append(h("div", { className: "bk-text", html: textObject(b.text, ctx) }));
        if (b.fields) {
          body.append(h("div", { className: "bk-fields" },
            b.fields.map((f) => h("div", { className: "bk-field", html: textObject(f, ctx) }))));
        }
        const row = h("div", { className: "bk-section", "data-block-id": b.block_id }, body);
        if (b.accessory) row.append(h("div", { className: "bk-accessory" }, this.element(b.accessory, b, false)));
        return row;
      }
      case "header":
        return h("div", { className: "bk-header", html: plainText(b.text) });
      case "divider":
        return h("hr", { className: "bk-divider" });
      case "context":
        return h("div", { className: "bk-context" }, (b.elements || []).map((e) =>
          e.type === "image"
            ? h("img", { src: e.image_url, alt: e.alt_text || "", className: "bk-context-img" })
            : h("span", { html: textObject(e, ctx) })));
      case "actions":
        return h("div", { className: "bk-actions", "data-block-id": b.block_id },
          (b.elements || []).map((e) => this.element(e, b, false)));
      case "image":
        return h("figure", { className: "bk-image" },
          b.title ? h("figcaption", { html: plainText(b.title) }) : null,
          h("img", { src: b.image_url, alt: b.alt_text || "" }));
      case "input":
        return this.input(b);
      case "rich_text":
        return h("div", { className: "bk-text", html: esc(richTextToPlain(b)) });
      default:
        return h("div", { className: "bk-unknown" }, `[${b.type} block]`);
    }
  }

  input(b) {
    const error = (this.o.errors || {})[b.block_id];
    const wrap = h("div", { className: `bk-input${error ? " has-error" : ""}`, "data-block-id": b.block_id },
      h("label", { className: "bk-label" }, h("span", { html: plainText(b.label) }),
        b.optional ? h("span", { className: "optional" }, " (optional)") : null),
      this.element(b.element || {}, b, true),
      b.hint ? h("div", { className: "bk-hint", html: plainText(b.hint) }) : null,
      error ? h("div", { className: "bk-error" }, error) : null);
    return wrap;
  }

  stateOf(block, el) {
    const store = this.o.store;
    const key = block.block_id;
    store[key] = store[key] || {};
    const kept = store[key][el.action_id];
    if (!stillFits(kept, el)) store[key][el.action_id] = initialState(el);
    return store[key][el.action_id];
  }

  changed(block, el, inInput) {
    const dispatch = inInput ? block.dispatch_action : true;
    if (dispatch && this.o.onAction) {
      const state = this.o.store[block.block_id][el.action_id];
      this.o.onAction({ ...state, action_id: el.action_id, block_id: block.block_id }, block, el);
    }
  }

  element(el, block, inInput) {
    el = { ...el, action_id: el.action_id || `auto_${el.type}` };
    const people = this.o.people || [];
    const attrs = { "data-action-id": el.action_id, "data-type": el.type };
    if (el.type === "button") {
      return h("button", {
        ...attrs,
        className: `bk-button${el.style ? " " + el.style : ""}`,
        onclick: () => {
          if (el.url) window.open(el.url, "_blank", "noopener");
          if (el.confirm && !window.confirm(`${el.confirm.title?.text || "Are you sure?"}\n\n${el.confirm.text?.text || ""}`)) return;
          this.o.onAction && this.o.onAction({
            type: "button", action_id: el.action_id, block_id: block.block_id, value: el.value,
            text: el.text, style: el.style,
          }, block, el);
        },
      }, h("span", { html: plainText(el.text) }));
    }
    if (el.type === "image") return h("img", { src: el.image_url, alt: el.alt_text || "", className: "bk-acc-img" });
    if (el.type === "overflow") {
      const sel = h("select", { ...attrs, className: "bk-overflow" }, h("option", { value: "" }, "⋯"),
        (el.options || []).map((o) => h("option", { value: o.value }, o.text.text)));
      sel.addEventListener("change", () => {
        const option = el.options.find((o) => o.value === sel.value);
        sel.value = "";
        if (option && this.o.onAction) {
          this.o.onAction({ type: "overflow", action_id: el.action_id, block_id: block.block_id, selected_option: option }, block, el);
        }
      });
      return sel;
    }
    if (!STATEFUL.has(el.type)) return h("span", { className: "bk-unknown" }, `[${el.type}]`);
    const state = this.stateOf(block, el);
    const set = (patch, dispatch = true) => {
      Object.assign(state, patch);
      if (dispatch) this.changed(block, el, inInput);
    };
    switch (el.type) {
      case "plain_text_input": case "number_input": case "email_text_input": case "url_text_input": {
        const multiline = el.type === "plain_text_input" && el.multiline;
        const type = { number_input: "number", email_text_input: "email", url_text_input: "url" }[el.type] || "text";
        const input = multiline
          ? h("textarea", { ...attrs, rows: 3, className: "bk-field-input" })
          : h("input", { ...attrs, type, className: "bk-field-input" });
        if (el.placeholder) input.placeholder = el.placeholder.text;
        if (el.max_length) input.maxLength = el.max_length;
        if (el.type === "number_input") {
          if (el.min_value !== undefined) input.min = el.min_value;
          if (el.max_value !== undefined) input.max = el.max_value;
          input.step = el.is_decimal_allowed ? "any" : "1";
        }
        input.value = state.value ?? "";
        input.addEventListener("input", () => set({ value: input.value === "" ? null : input.value }, false));
        input.addEventListener("keydown", (e) => {
          if (e.key === "Enter" && !multiline && inInput && block.dispatch_action) this.changed(block, el, inInput);
        });
        return input;
      }
      case "static_select": case "external_select": {
        const options = (el.option_groups
          ? el.option_groups.map((g) => h("optgroup", { label: g.label.text },
            g.options.map((o) => h("option", { value: o.value }, o.text.text))))
          : (el.options || []).map((o) => h("option", { value: o.value }, o.text.text)));
        const sel = h("select", { ...attrs, className: "bk-select" },
          h("option", { value: "" }, el.placeholder ? el.placeholder.text : "Select an option"), options);
        sel.value = state.selected_option ? state.selected_option.value : "";
        sel.addEventListener("change", () => {
          set({ selected_option: allOptions(el).find((o) => o.value === sel.value) || null });
        });
        return sel;
      }
      case "multi_static_select": {
        const sel = h("select", { ...attrs, multiple: true, className: "bk-select multi" },
          allOptions(el).map((o) => h("option", { value: o.value }, o.text.text)));
        const chosen = new Set((state.selected_options || []).map((o) => o.value));
        [...sel.options].forEach((o) => { o.selected = chosen.has(o.value); });
        sel.addEventListener("change", () => {
          const picked = new Set([...sel.selectedOptions].map((o) => o.value));
          set({ selected_options: allOptions(el).filter((o) => picked.has(o.value)) });
        });
        return sel;
      }
      case "users_select": {
        const sel = h("select", { ...attrs, className: "bk-select" },
          h("option", { value: "" }, el.placeholder ? el.placeholder.text : "Select a person"),
          people.map((p) => h("option", { value: p.id }, `${p.name} (@${p.handle})`)));
        sel.value = state.selected_user || "";
        sel.addEventListener("change", () => set({ selected_user: sel.value || null }));
        return sel;
      }
      case "multi_users_select": {
        const box = h("div", { ...attrs, className: "bk-people" });
        const draw = () => {
          box.replaceChildren(...people.map((p) => {
            const on = (state.selected_users || []).includes(p.id);
            return h("button", {
              type: "button", className: `chip${on ? " on" : ""}`, "data-user": p.id, "aria-pressed": on ? "true" : "false",
              onclick: () => {
                const now = new Set(state.selected_users || []);
                if (now.has(p.id)) now.delete(p.id); else now.add(p.id);
                set({ selected_users: people.map((x) => x.id).filter((id) => now.has(id)) });
                draw();
              },
            }, `@${p.handle}`);
          }));
        };
        draw();
        return box;
      }
      case "conversations_select": case "channels_select": {
        const key = el.type === "channels_select" ? "selected_channel" : "selected_conversation";
        const sel = h("select", { ...attrs, className: "bk-select" }, h("option", { value: "" }, "Select a channel"),
          Object.entries(this.o.channels || {}).map(([id, name]) => h("option", { value: id }, `#${name}`)));
        sel.value = state[key] || "";
        sel.addEventListener("change", () => set({ [key]: sel.value || null }));
        return sel;
      }
      case "checkboxes": case "radio_buttons": {
        const radio = el.type === "radio_buttons";
        const name = `${block.block_id}.${el.action_id}`;
        const box = h("div", { ...attrs, className: "bk-choices" });
        (el.options || []).forEach((o) => {
          const selected = radio
            ? state.selected_option && state.selected_option.value === o.value
            : (state.selected_options || []).some((s) => s.value === o.value);
          const input = h("input", { type: radio ? "radio" : "checkbox", name, value: o.value, checked: selected });
          input.addEventListener("change", () => {
            if (radio) set({ selected_option: o });
            else {
              const picked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
              set({ selected_options: el.options.filter((x) => picked.has(x.value)) });
            }
          });
          box.append(h("label", { className: "bk-choice" }, input,
            h("span", {}, h("span", { html: textObject(o.text, this.o.ctx) }),
              o.description ? h("span", { className: "bk-choice-desc", html: textObject(o.description, this.o.ctx) }) : null)));
        });
        return box;
      }
      case "datepicker": case "timepicker": {
        const date = el.type === "datepicker";
        const input = h("input", { ...attrs, type: date ? "date" : "time", className: "bk-field-input short" });
        input.value = (date ? state.selected_date : state.selected_time) || "";
        input.addEventListener("change", () => set(date ? { selected_date: input.value || null } : { selected_time: input.value || null }));
        return input;
      }
      default:
        return h("span", { className: "bk-unknown" }, `[${el.type}]`);
    }
  }
}

function richTextToPlain(block) {
  const walk = (e) => (e.text || "") + (e.elements || []).map(walk).join("");
  return walk(block);
}

// The state of every stateful element of a view, as Slack puts it in view.state.values.
function viewValues(blocks, store) {
  const values = {};
  (blocks || []).forEach((b, i) => {
    const id = b.block_id || `auto_${i}`;
    const els = b.type === "input" ? [b.element] : b.type === "actions" ? b.elements || [] : b.accessory ? [b.accessory] : [];
    els.forEach((el) => {
      if (!el || !STATEFUL.has(el.type)) return;
      const aid = el.action_id || `auto_${el.type}`;
      const st = (store[id] || {})[aid] || initialState(el);
      values[id] = values[id] || {};
      values[id][aid] = st;
    });
  });
  return values;
}

// Slack checks these in the client before a submission is sent.
function clientErrors(blocks, store) {
  const errors = {};
  (blocks || []).forEach((b, i) => {
    if (b.type !== "input" || !b.element) return;
    const id = b.block_id || `auto_${i}`;
    const el = b.element;
    const st = (store[id] || {})[el.action_id || `auto_${el.type}`] || initialState(el);
    if (!b.optional && isEmpty(st)) { errors[id] = "Please complete this required field."; return; }
    if (el.type === "plain_text_input" && st.value) {
      if (el.min_length && st.value.length < el.min_length) errors[id] = `Please enter at least ${el.min_length} characters.`;
      if (el.max_length && st.value.length > el.max_length) errors[id] = `Please enter at most ${el.max_length} characters.`;
    }
    if (el.type === "number_input" && st.value !== null && st.value !== undefined && st.value !== "") {
      const n = Number(st.value);
      if (Number.isNaN(n) || (!el.is_decimal_allowed && !Number.isInteger(n))) errors[id] = "Please enter a whole number.";
      else if (el.min_value !== undefined && n < Number(el.min_value)) errors[id] = `Please enter a number of at least ${el.min_value}.`;
      else if (el.max_value !== undefined && n > Number(el.max_value)) errors[id] = `Please enter a number no greater than ${el.max_value}.`;
    }
  });
  return errors;
}
