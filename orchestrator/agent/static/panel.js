// The agent panel: start a card payment for a caller and watch it, masked, as it happens; the
// caller may be texted a confirmation, or a link to pay on the web instead of keying the card.
//
// Plain ES module, no framework, nothing fetched but this service's own API. The page never
// sees a card digit beyond brand, BIN and last four, and shows even those only after checking
// their shape (maskedOnly), so a backend slip cannot put a card number on an agent's screen.
// The token lives in sessionStorage (this tab only) and travels in the Authorization header;
// only the events URL carries it as access_token, because EventSource cannot set headers.

import { initRefunds, setPermission, showRefunds } from "./refund.js";

const TOKEN_KEY = "payivr.agent.token";
// Outcomes a session can reach; a declined card may still be followed by another, so only
// "ended" (which the stream always sends last) closes the stream.
const FINAL_STATES = new Set(["approved", "declined", "cancelled", "failed", "error", "link_sent",
  "expired", "ended"]);
const STREAM_END = "ended";
const CAPTURE_STATES = new Set(["created", "waiting", "collecting"]);
const FIELD_NAMES = {
  number: "Card number", expiry: "Expiry date", security_code: "Security code",
  postal_code: "Postal code",
};
const FIELD_ORDER = ["number", "expiry", "security_code", "postal_code"];
const ERROR_WORDS = {
  "input-timeout": "nothing was keyed in time",
  "invalid-card-number": "not a valid card number",
  "invalid-card-type": "this card type is not accepted",
  "invalid-date": "not a valid expiry date",
  "invalid-security-code": "not a valid security code",
  "invalid-postal-code": "not a valid postal code",
  "too-many-failed-attempts": "too many failed attempts",
};
// after a decline, what keeps the payment going (after_decline.next): not shown as the end
const GOES_ON = new Set(["another_card", "agent_decides"]);
const STATE_WORDS = {
  created: "Starting", waiting: "Waiting for the caller", collecting: "Caller is keying the card",
  authorizing: "Authorizing with the bank", approved: "Approved", declined: "Declined",
  cancelled: "Cancelled", failed: "Failed: too many attempts", error: "Did not complete",
  link_sent: "Payment link texted", ended: "Ended",
  awaiting_charge: "Card complete: waiting for you to charge",
  expired: "Not charged in time: card wiped",
};
// A recipient as the service takes it (orchestrator/sms/text.py): an optional + and 6 to 15
// digits once spaces are removed.
const PHONE = /^\+?[0-9]{6,15}$/;
const TEXT_PURPOSE = { confirmation: "Confirmation", link: "Payment link" };
const DECLINE_WORDS = {
  insufficient_funds: "The card has insufficient funds.",
  do_not_honour: "The card issuer did not authorize the payment.",
  expired_card: "The card has expired.",
  incorrect_security_code: "The security code is not correct.",
  incorrect_expiry: "The expiry date is not correct.",
  card_blocked: "The card is blocked.",
  generic: "The payment was not authorized.",
};
const MAX_MINOR_UNITS = 10 ** 12 - 1;

// ---- pure logic (exported for the browser tests) -------------------------------------------

/** Major units typed by an agent ("12.50", "1 250,5" is refused) -> integer minor units.
 *  Exact decimal arithmetic on the text, never floating point. Returns {minor} or {error}. */
export function toMinorUnits(text, currency, exponents) {
  const code = String(currency || "").trim().toUpperCase();
  if (!(code in exponents)) return { error: "Unknown currency code.", field: "currency" };
  const exponent = exponents[code];
  const value = String(text || "").trim().replace(/[\s\u00a0]/g, "");
  if (value === "") return { error: "Enter the amount.", field: "amount" };
  const match = /^(\d+)(?:\.(\d*))?$/.exec(value) || /^()\.(\d+)$/.exec(value);
  if (!match) return { error: "Use digits and a decimal point, e.g. " + example(exponent) + ".", field: "amount" };
  const whole = match[1] || "0";
  const fraction = (match[2] || "").replace(/0+$/, "");
  if (fraction.length > exponent) {
    return { error: exponent === 0 ? code + " has no decimal places."
      : code + " has " + exponent + " decimal place" + (exponent === 1 ? "" : "s") + ".", field: "amount" };
  }
  const digits = (whole + fraction.padEnd(exponent, "0")).replace(/^0+(?=\d)/, "");
  if (digits.length > 12 || Number(digits) > MAX_MINOR_UNITS) return { error: "The amount is too large.", field: "amount" };
  const minor = Number(digits);
  if (!(minor > 0)) return { error: "The amount must be more than zero.", field: "amount" };
  return { minor, code, text: formatMinor(minor, exponent) + " " + code };
}

function example(exponent) {
  return exponent === 0 ? "1250" : "12." + "5".padEnd(exponent, "0");
}

/** Integer minor units -> "12.50" for exponent 2. */
export function formatMinor(minor, exponent) {
  const digits = String(minor).padStart(exponent + 1, "0");
  return exponent === 0 ? digits : digits.slice(0, -exponent) + "." + digits.slice(-exponent);
}

/** A masked card value as the contract allows it ("visa 411111******1111", "**\/**", "***"),
 *  else null: at most six leading and four trailing digits around a run of asterisks. */
export function maskedOnly(value) {
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (/^[*\/ ]{1,12}$/.test(text)) return text;
  const match = /^([a-z_ -]{0,24}?)\s*(\d{0,6})(\*{2,})(\d{0,4})$/i.exec(text);
  return match ? text : null;
}

// What may be a card number, as the service judges it (orchestrator/card_numbers.py): digits
// joined by at most three of these separators, UUIDs left out, and some 13-19 of them in a row
// passing Luhn. Ids and references stay readable (INV-20261201-0042, sbx_cdda1234567b5421).
const DIGIT_RUN = /\d(?:[ \t.\\\-\/#_*+|~]{0,3}\d)*/g;
const UUID_SHAPE = /(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])/g;

function luhnOk(digits) {
  let total = 0;
  for (let i = 0; i < digits.length; i++) {
    let value = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2) { value *= 2; if (value > 9) value -= 9; }
    total += value;
  }
  return total % 10 === 0;
}

export function holdsCard(digits) {
  if (digits.length < 13) return false;
  if (digits.length > 64) return true;
  for (let length = 13; length <= Math.min(19, digits.length); length++) {
    for (let start = 0; start + length <= digits.length; start++) {
      if (luhnOk(digits.slice(start, start + length))) return true;
    }
  }
  return false;
}

function hideCards(text) {
  return text.replace(DIGIT_RUN, (run) => (holdsCard(run.replace(/\D/g, "")) ? "[hidden]" : run));
}

/** Text from the server or the agent, with whatever may be a card number (however split)
 *  replaced: a card number pasted into a reference or echoed by a message never reaches the
 *  screen. */
export function plainWords(value) {
  const text = String(value == null ? "" : value);
  let out = "", last = 0;
  for (const id of text.matchAll(UUID_SHAPE)) {
    out += hideCards(text.slice(last, id.index)) + id[0];
    last = id.index + id[0].length;
  }
  return (out + hideCards(text.slice(last))).slice(0, 300);
}

/** What one field's state means, in words an agent reads at a glance. */
export function describeField(field) {
  const state = field.state || "pending";
  if (state === "valid") {
    const masked = maskedOnly(field.masked);
    return "Valid" + (masked ? ": " + masked : "");
  }
  if (state === "invalid") {
    const words = ERROR_WORDS[field.error_type] || plainWords(field.error_type || "").replace(/-/g, " ");
    return "Invalid" + (words ? ": " + words : "") + (field.attempt ? " (attempt " + field.attempt + ")" : "");
  }
  if (state === "typing") {
    return "Caller is typing" + (Number.isInteger(field.digits) && field.digits > 0
      ? " (" + field.digits + " key" + (field.digits === 1 ? "" : "s") + ")" : "");
  }
  return "Waiting";
}

export function declineWords(result) {
  if (!result) return "";
  const reason = result.decline_reason || result.decline_code || "";
  return DECLINE_WORDS[reason] || plainWords(reason).replace(/_/g, " ");
}

function sentence(text) {
  const said = String(text || "").trim();
  return said && !/[.!?]$/.test(said) ? said + "." : said;
}

/** What a declined payment means now, and what happens next: the service says, from the
 *  flow's definition, whether the caller is asked for another card (``after_decline``). */
export function declinedText(session) {
  const reason = sentence(declineWords(session.result)) || "The payment was not authorized.";
  const after = session.after_decline || null;
  const state = session.state;
  const card = after && Number.isInteger(after.card) ? after.card : 1;
  const allowed = after && Number.isInteger(after.cards_allowed) ? after.cards_allowed : null;
  const of = allowed ? " of " + allowed : "";
  if (after && after.next === "another_card") {
    if (state === "declined") {
      return "Declined: " + reason + " The caller is asked for another card (card " + (card + 1) + of + ").";
    }
    if (CAPTURE_STATES.has(state)) {
      return "Card " + card + " declined: " + reason + " The caller is keying card " + (card + 1) + of + ".";
    }
    if (state === "authorizing") {
      return "Card " + card + " declined: " + reason + " Card " + (card + 1) + of + " is being authorized.";
    }
    return "Payment declined: " + reason + " The call left the payment before another card was keyed.";
  }
  if (after && after.next === "agent_decides") {
    // "charge": "agent": the flow holds the caller for the agent; nothing happens by itself
    if (state === "declined") {
      return "Declined: " + reason + " Waiting for you: ask the caller for another card, or cancel.";
    }
    if (CAPTURE_STATES.has(state)) {
      return "Card " + card + " declined: " + reason + " You asked for another card; the caller is keying card " + (card + 1) + ".";
    }
    if (state === "authorizing") {
      return "Card " + card + " declined: " + reason + " Card " + (card + 1) + " is being authorized.";
    }
    return "Payment declined: " + reason + " No other card was asked for.";
  }
  if (after && after.next === "no_more_cards") {
    return "Payment declined: " + reason + " No other card will be asked for (card " + card + of + " tried).";
  }
  if (CAPTURE_STATES.has(state)) return "Card declined: " + reason + " The caller is trying another card.";
  if (state === "declined") return "Declined: " + reason + " The payment flow goes on; it may ask the caller for another card.";
  return "Payment declined: " + reason;
}

/** A session's state in words; a decline the flow follows with another card does not read
 *  as the end. */
export function stateWords(session) {
  const next = session.state === "declined" && session.after_decline ? session.after_decline.next : "";
  if (next === "another_card") return "Declined, asking for another card";
  if (next === "agent_decides") return "Declined: waiting for the agent (another card or cancel)";
  return STATE_WORDS[session.state] || plainWords(session.state);
}

/** Who the panel is signed in as: "alice · acme", or "acme · all agents" for a tenant-wide
 *  token (GET /me). */
export function whoWords(me) {
  if (!me || typeof me.tenant !== "string") return "Signed in";
  const tenant = plainWords(me.tenant);
  if (me.agent) return plainWords(me.agent) + " · " + tenant;
  return tenant + (me.admin ? " · admin" : " · all agents");
}

/** One of the agent's calls (GET /calls) in words: the caller's number as the service masked
 *  it (shown only in that shape), since when, on which node, and whose for a supervisor. */
export function describeCall(call, showAgent) {
  const caller = /^\+?\**\d{0,3}$/.test(call.caller || "") && call.caller ? call.caller : "unknown number";
  const since = call.since ? new Date(call.since) : null;
  const time = since && !isNaN(since) ? since.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  return "Caller " + caller + (time ? " · since " + time : "") + " · " + plainWords(call.node || "")
    + (showAgent && call.agent ? " · with " + plainWords(call.agent) : "")
    + (call.session ? " · payment in progress" : "");
}

/** Where the agent asked for a text: ``{sms_to}`` ("caller", a number without its spaces, or
 *  absent for no text), or ``{error}`` for what is not a phone number. A value that may be a
 *  card number is refused without being repeated, before anything is sent. */
export function smsRecipient(text, toCaller) {
  if (toCaller) return { sms_to: "caller" };
  const value = String(text || "").trim();
  if (value === "") return {};
  if (holdsCard(value.replace(/\D/g, ""))) {
    return { cardLike: true,
      error: "This looks like a card number. Enter the caller's phone number; the caller keys the card on the phone." };
  }
  const number = value.replace(/\s/g, "");
  if (!PHONE.test(number)) {
    return { error: "Enter a phone number: an optional + and 6 to 15 digits, e.g. +34600111222." };
  }
  return { sms_to: number };
}

/** What became of the session's text, in words: the number is shown masked as the service
 *  sent it, and only when it has that shape. */
export function describeSms(sms) {
  if (!sms || !TEXT_PURPOSE[sms.purpose]) return "";
  const to = /^\+?\**\d{0,3}$/.test(sms.to || "") ? " to " + sms.to : "";
  const what = TEXT_PURPOSE[sms.purpose];
  if (sms.result === "sent") return what + " texted" + to + ".";
  if (sms.result === "timeout") return what + " may not have arrived" + to + " (the SMS provider did not answer in time).";
  return what + " could not be texted" + to + (sms.purpose === "confirmation"
    ? "; the payment itself is not affected." : "; nothing was charged.");
}

/** Pre-filled values from the contact-centre software's URL (never the token). */
export function prefillFrom(search) {
  const params = new URLSearchParams(search);
  const out = {};
  for (const key of ["amount", "currency", "reference", "call_uuid", "mode", "method", "language"]) {
    if (params.has(key)) out[key] = params.get(key).slice(0, 128);
  }
  return out;
}

// ---- API ---------------------------------------------------------------------------------

const apiBase = new URL(document.querySelector('meta[name="api-base"]')?.content || "../api/v1/",
  document.baseURI);

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.code = body && body.error;
    this.field = body && body.field;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15000);
  let response;
  try {
    response = await fetch(new URL(path, apiBase), {
      method: options.method || "GET",
      headers: { Accept: "application/json", Authorization: "Bearer " + token,
        ...(options.body ? { "Content-Type": "application/json" } : {}), ...(options.headers || {}) },
      body: options.body ? JSON.stringify(options.body) : undefined,
      signal: controller.signal, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
  } catch (err) {
    throw new ApiError(0, { error: "network", message: "The service did not answer. Check your connection and try again." });
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// ---- page --------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
let exponents = {};
let current = null;     // the session being watched
let stream = null;      // its EventSource
let retryTimer = null;

function setText(id, text) { $(id).textContent = text; }

function clearErrors() {
  for (const el of document.querySelectorAll("#start-form .error")) el.textContent = "";
  for (const el of document.querySelectorAll("#start-form [aria-invalid]")) el.removeAttribute("aria-invalid");
}

function fieldError(name, message) {
  const ids = { amount: "amount", currency: "currency", reference: "reference", call_uuid: "call-uuid",
    agent_uuid: "call-uuid", mode: "mode-stay", method: "method-link", sms_to: "sms-to",
    language: "language" };
  const errorId = { call_uuid: "call_uuid-error", agent_uuid: "call_uuid-error", mode: "mode-error",
    method: "method-error", sms_to: "sms_to-error" }[name] || name + "-error";
  if (!ids[name] || !$(errorId)) return false;
  setText(errorId, plainWords(message));
  const input = $(ids[name]);
  if (name !== "mode" && name !== "method") input.setAttribute("aria-invalid", "true");
  input.focus();
  return true;
}

function signedIn(agentText) {
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  $("who").hidden = !agentText;
  setText("who", agentText || "");
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    const sessions = await api("sessions");
    signedIn("Signed in");
    renderSessions(sessions);
    // side by side: focus moves no later
    await Promise.all([loadMe(), loadLanguages()]);
    refreshCalls();
    $("amount").value ? $("start-button").focus() : $("amount").focus();
    return true;
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    setText("token-error", err.status === 401 ? "This token was not accepted." : plainWords(err.message));
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
    return false;
  }
}

let me = null;          // GET /me: who the token is, and whether it may refund

/** GET /me, asked once at sign-in: the header's words and the refund permission. */
async function loadMe() {
  try {
    me = await api("me");
  } catch (err) {
    me = null;     // an older service: "Signed in" alone, no refunds
    setPermission(null);
    if (err.status === 401) return signOut();
  }
  setText("who", whoWords(me));
  setPermission(me);
}

function renderCalls(body) {
  const calls = (body && Array.isArray(body.calls)) ? body.calls : [];
  const list = $("calls-list");
  list.replaceChildren();
  const picked = $("call-uuid").value.trim();
  for (const call of calls) {
    const item = document.createElement("li");
    item.dataset.call = call.call_uuid;
    item.dataset.picked = String(call.call_uuid === picked);
    const words = document.createElement("span");
    words.className = "call-words";
    words.textContent = describeCall(call, !(me && me.agent));
    const use = document.createElement("button");
    use.type = "button";
    use.textContent = call.session ? "In payment" : "Use this call";
    use.disabled = !!call.session;
    use.setAttribute("aria-label", "Take a payment on the call from " + words.textContent);
    use.addEventListener("click", () => pickCall(call));
    item.append(words, use);
    list.append(item);
  }
  list.hidden = calls.length === 0;
  $("calls-empty").hidden = calls.length !== 0;
  const down = (body && Array.isArray(body.unavailable_nodes)) ? body.unavailable_nodes : [];
  setText("calls-note", down.length ? "Not reachable now, so calls there are not listed: "
    + down.map(plainWords).join(", ") + "." : "");
  setText("calls-error", "");
}

function pickCall(call) {
  $("call-uuid").value = call.call_uuid;
  $("call-uuid").removeAttribute("aria-invalid");
  setText("call_uuid-error", "");
  for (const item of $("calls-list").children) {
    item.dataset.picked = String(item.dataset.call === call.call_uuid);
  }
  $("amount").value.trim() ? $("start-button").focus() : $("amount").focus();
}

async function refreshCalls() {
  try {
    renderCalls(await api("calls"));
  } catch (err) {
    if (err.status === 401) return signOut();
    if (err.status === 404) { $("calls").hidden = true; return; }   // an older service
    setText("calls-error", plainWords(err.message));
  }
}

function signOut() {
  closeStream();
  sessionStorage.removeItem(TOKEN_KEY);
  current = null;
  $("workspace").hidden = true;
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("who").hidden = true;
  $("token").value = "";
  $("token").focus();
}

function updateAmountPreview() {
  const amount = $("amount").value;
  if (!amount.trim()) { setText("amount-preview", ""); return; }
  const converted = toMinorUnits(amount, $("currency").value, exponents);
  setText("amount-preview", converted.error ? "" : "Charges " + converted.text);
}

function sessionsArray(body) {
  if (Array.isArray(body)) return body;
  return (body && (body.sessions || body.items)) || [];
}

function renderSessions(body) {
  const rows = sessionsArray(body);
  // the payment this page watches is active until its stream ends: listed even when the
  // answer was made in the moment it moved between states (a decline, the next card)
  if (current && current.state !== STREAM_END && !rows.some((row) => row.id === current.id)) {
    rows.push(current);
  }
  const tbody = $("sessions-table").querySelector("tbody");
  tbody.replaceChildren();
  for (const session of rows) {
    const tr = document.createElement("tr");
    for (const text of [plainWords(session.reference), session.amount_text || "",
      stateWords(session)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "Watch";
    open.setAttribute("aria-label", "Watch payment " + plainWords(session.reference));
    open.addEventListener("click", () => watch(session));
    td.append(open);
    tr.append(td);
    tbody.append(tr);
  }
  $("sessions-table").hidden = rows.length === 0;
  $("sessions-empty").hidden = rows.length !== 0;
  setText("sessions-error", "");
}

let sessionsAsked = 0;

async function refreshSessions() {
  const asked = ++sessionsAsked;
  try {
    const body = await api("sessions");
    if (asked !== sessionsAsked) return;     // a later refresh was asked: its answer is newer
    renderSessions(body);
  } catch (err) {
    if (err.status === 401) return signOut();
    setText("sessions-error", plainWords(err.message));
  }
}

/** An action's answer into the session shown: the session as it was when the service answered,
 *  which the stream may already have overtaken (a decline's charge answer, then the stream's
 *  "waiting for your decision"); an answer older than what the page has seen changes nothing. */
function merge(update) {
  if (!current) return;
  if (Number.isInteger(update.version) && Number.isInteger(current.version)
      && update.version < current.version) return;
  if (update.fields) current.fields = { ...current.fields, ...update.fields };
  for (const key of Object.keys(update)) if (key !== "fields") current[key] = update[key];
}

/** The state to show: once "ended", the outcome it ended with. */
function shownState(session) {
  if (session.state !== STREAM_END) return session.state;
  return (session.result && session.result.status) || session.last_outcome || STREAM_END;
}

function renderProgress() {
  const session = current;
  $("progress-idle").hidden = !!session;
  $("progress-body").hidden = !session;
  if (!session) return;
  $("progress-body").dataset.session = session.id || "";
  setText("p-amount", session.amount_text || "");
  setText("p-reference", plainWords(session.reference));
  setText("p-mode", (session.mode === "stay" ? "Stay on the call" : "Transfer")
    + (session.method === "link" ? ", payment link by SMS" : ""));
  setText("p-sms", describeSms(session.sms) || (session.method === "link" ? "Not yet texted" : "None"));
  $("p-sms").dataset.result = (session.sms && session.sms.result) || "";
  // After "ended" the outcome is what matters to the agent, not that the call moved on.
  const shown = shownState(session);
  setText("p-state", (shown === session.state ? stateWords(session) : STATE_WORDS[shown] || plainWords(shown))
    + (session.state === STREAM_END && shown !== STREAM_END ? " (finished)" : ""));
  $("p-state").dataset.state = shown || "";
  const list = $("fields");
  const names = FIELD_ORDER.filter((name) => session.fields && session.fields[name]);
  const canCapture = CAPTURE_STATES.has(session.state);
  // Update rows in place so the live region announces only what changed.
  for (const name of names) {
    let item = list.querySelector('li[data-field="' + name + '"]');
    if (!item) {
      item = document.createElement("li");
      item.dataset.field = name;
      const label = document.createElement("span");
      label.className = "field-name";
      label.textContent = FIELD_NAMES[name];
      const status = document.createElement("span");
      status.className = "field-status";
      const again = document.createElement("button");
      again.type = "button";
      again.className = "recapture";
      again.textContent = "Ask again";
      again.setAttribute("aria-label", "Ask again for the " + FIELD_NAMES[name].toLowerCase());
      again.addEventListener("click", () => recapture(name));
      item.append(label, status, again);
      list.append(item);
    }
    const field = session.fields[name];
    item.dataset.state = field.state || "pending";
    const status = item.querySelector(".field-status");
    const words = describeField(field);
    if (status.textContent !== words) status.textContent = words;
    item.querySelector(".recapture").disabled = !canCapture;
  }
  renderResult(session);
  renderCharge(session);
  $("cancel-button").disabled = !canCapture && !waitsForAgent(session);
}

// ---- the agent-started charge ("charge": "agent") ------------------------------------------

/** The flow holds the caller for this agent: a card to charge, or after a decline. */
export function waitsForAgent(session) {
  return !!session && session.charge === "agent"
    && (session.state === "awaiting_charge" || !!session.awaiting_decision);
}

/** The Charge button's words: "Charge 12.50 EUR". */
export function chargeLabel(session) {
  return "Charge " + plainWords(session.amount_text || "");
}

let charging = false;     // a charge request in flight: a second click sends nothing

function renderCharge(session) {
  const box = $("charge-box");
  const waits = waitsForAgent(session);
  box.hidden = !waits && !charging;
  if (box.hidden) return;
  const button = $("charge-button");
  const card = session.state === "awaiting_charge";
  button.hidden = !card;
  const label = charging ? "Charging " + plainWords(session.amount_text || "") + "…" : chargeLabel(session);
  if (button.textContent !== label) button.textContent = label;
  button.disabled = charging || !card;
  button.setAttribute("aria-busy", charging ? "true" : "false");
  setText("charge-help", card
    ? "The card is complete; nothing is charged until you press Charge."
    : "The card was declined. Ask the caller for another card, or cancel.");
  $("another-card-button").disabled = charging;
}

async function chargePayment() {
  if (!current || charging || current.state !== "awaiting_charge") return;
  charging = true;
  renderProgress();
  try {
    await sessionAction("charge", { attempt: current.charge_attempt });
  } finally {
    charging = false;
    renderProgress();
  }
}

function anotherCard() { return sessionAction("recapture", {}); }

function renderResult(session) {
  const box = $("result");
  const result = session.result;
  const state = shownState(session);
  let text = "";
  if (result && result.status === "approved") {
    const last4 = /^\d{4}$/.test(result.last4 || "") ? result.last4 : "";
    text = "Payment approved" + (result.brand ? " – " + plainWords(result.brand) : "")
      + (last4 ? " card ending " + last4 : "")
      + (result.auth_code ? ". Authorization code " + plainWords(result.auth_code) : "") + ".";
  } else if (result && result.status === "declined" && session.awaiting_decision) {
    const reason = declineWords(result);
    text = "Card declined" + (reason ? ": " + reason : ".")
      + " Ask for another card, or cancel.";
  } else if (result && result.status === "declined" && session.state === "awaiting_charge") {
    const reason = declineWords(result);
    text = "The previous card was declined" + (reason ? ": " + reason : ".")
      + " The new card is complete and not charged yet.";
  } else if (state === "expired") {
    text = "The card was not charged in time and has been wiped. Nothing was charged.";
  } else if (result && result.status === "declined") {
    text = declinedText(session);
  } else if (result && result.status === "error") {
    text = "The bank's answer could not be confirmed. Do not take the payment again; it will be reconciled.";
  } else if (state === "link_sent") {
    text = "A payment link was texted to the caller. The payment completes when they pay it on the web.";
  } else if (state === "cancelled") {
    text = "The payment was cancelled.";
  } else if (state === "failed") {
    text = "The caller could not key a valid card in the attempts allowed. Nothing was charged.";
  } else if (state === "error" || state === STREAM_END) {
    text = "The payment did not complete (the call ended or could not be handed over). Nothing was charged.";
  }
  box.dataset.status = (result && result.status) || (text ? state : "");
  // while the flow goes on to another card (not once the session has ended)
  const after = session.after_decline;
  box.dataset.next = result && result.status === "declined" && after && GOES_ON.has(after.next)
    && session.state !== STREAM_END ? after.next : "";
  if (box.textContent !== text) box.textContent = text;
  showRefunds(session, !CAPTURE_STATES.has(session.state) && session.state !== "authorizing");
}

function closeStream() {
  if (stream) { stream.close(); stream = null; }
  clearTimeout(retryTimer);
}

function openStream(session) {
  closeStream();
  const url = new URL("sessions/" + encodeURIComponent(session.id) + "/events", apiBase);
  url.searchParams.set("access_token", sessionStorage.getItem(TOKEN_KEY) || "");
  const source = new EventSource(url);
  stream = source;
  const mine = (handler) => (event) => {
    if (stream !== source || !current || current.id !== session.id) return;
    let data;
    try { data = JSON.parse(event.data); } catch (err) { return; }
    // the session's version after this event; one the page has already seen (a change that
    // came before a snapshot it read since) is not applied again
    const version = Number.parseInt(event.lastEventId, 10);
    if (event.type !== "snapshot" && Number.isInteger(version)
        && Number.isInteger(current.version) && version <= current.version) return;
    handler(data);
    if (Number.isInteger(version) && !(current.version > version)) current.version = version;
    renderProgress();
    if (current.state === STREAM_END) { closeStream(); setText("connection", ""); refreshCalls(); }
    // every change of state: the list says what is true now (a declined card followed by another)
    if (FINAL_STATES.has(current.state) || event.type === "state") refreshSessions();
  };
  source.addEventListener("open", () => setText("connection", ""));
  source.addEventListener("snapshot", mine((data) => { current = { ...current, ...data }; }));
  source.addEventListener("field", mine((data) => {
    const fields = { ...(current.fields || {}) };
    // a field event says all there is: no mask unless valid, no error unless invalid (a new
    // card resets every field to pending)
    fields[data.field] = { ...(fields[data.field] || {}), masked: null, error_type: null, ...data };
    current.fields = fields;
    if (current.state === "created" || current.state === "waiting") current.state = "collecting";
  }));
  source.addEventListener("sms", mine((data) => { current.sms = data; }));
  source.addEventListener("charge", mine((data) => {
    if (Number.isInteger(data.attempt)) current.charge_attempt = data.attempt;
    current.awaiting_decision = data.awaiting === "decision";
    if (current.awaiting_decision && current.after_decline) {   // as the service now says too
      current.after_decline = { ...current.after_decline, next: "agent_decides", cards_allowed: null };
    }
  }));
  source.addEventListener("authorization", mine((data) => {
    const { after_decline: after, ...result } = data;
    current.result = { ...(current.result || {}), ...result };
    current.after_decline = after || null;
  }));
  source.addEventListener("state", mine((data) => {
    if (data.state !== STREAM_END) current.last_outcome = data.state;
    current.state = data.state;
  }));
  source.addEventListener("error", () => {
    if (stream !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      // Refused (token, gone) or ended: ask the API what is true now, and retry while live.
      stream = null;
      setText("connection", "Live updates interrupted; checking…");
      retryTimer = setTimeout(() => resync(session.id), 2000);
    } else {
      setText("connection", "Live updates interrupted; reconnecting…");
    }
  });
}

async function resync(id) {
  if (!current || current.id !== id) return;
  try {
    current = await api("sessions/" + encodeURIComponent(id));
    renderProgress();
    if (current.state !== STREAM_END) openStream(current);
    else setText("connection", "");
  } catch (err) {
    if (err.status === 401) return signOut();
    setText("connection", err.status === 404 ? "This payment is no longer available." : plainWords(err.message));
    if (err.status !== 404) retryTimer = setTimeout(() => resync(id), 5000);
  }
}

function watch(session) {
  current = { ...session };
  $("fields").replaceChildren();
  setText("action-error", "");
  setText("connection", "");
  renderProgress();
  $("progress-title").focus();
  if (session.state !== STREAM_END) openStream(session);
}

async function startPayment(event) {
  event.preventDefault();
  clearErrors();
  const converted = toMinorUnits($("amount").value, $("currency").value, exponents);
  if (converted.error) { fieldError(converted.field, converted.error); return; }
  const reference = $("reference").value.trim();
  if (!reference) { fieldError("reference", "Enter the payment reference."); return; }
  const callUuid = $("call-uuid").value.trim();
  if (!callUuid) { fieldError("call_uuid", "Enter the caller's call UUID."); return; }
  const mode = document.querySelector('input[name="mode"]:checked')?.value || "transfer";
  const method = document.querySelector('input[name="method"]:checked')?.value || "card";
  const recipient = smsRecipient($("sms-to").value, $("sms-caller").checked);
  if (recipient.error) {
    if (recipient.cardLike) $("sms-to").value = "";   // a card number is not left on the screen
    fieldError("sms_to", recipient.error);
    return;
  }
  const body = { call_uuid: callUuid, amount: converted.minor, currency: converted.code, reference, mode };
  if (method === "link") body.method = "link";
  if (recipient.sms_to) body.sms_to = recipient.sms_to;
  if ($("language").value) body.language = $("language").value;
  if (document.querySelector('input[name="charge"]:checked')?.value === "agent") body.charge = "agent";
  const button = $("start-button");
  button.disabled = true;
  try {
    const session = await api("sessions", { method: "POST", body });
    await refreshSessions();     // listed before it is shown: never "None" beside it
    watch(session);
    refreshCalls();              // a caller handed to the payment has left the agent's bridge
  } catch (err) {
    if (err.status === 401) return signOut();
    if (err.code === "mode_unavailable") {
      const stay = $("mode-stay");
      stay.disabled = true;
      stay.closest("label").classList.add("unavailable");
      document.querySelector('input[name="mode"][value="transfer"]').checked = true;
      const said = plainWords(err.message).trim();
      setText("mode-error", "Stay is not available: " + said + (/[.!?]$/.test(said) ? "" : ".")
        + " Transfer is selected instead.");
      document.querySelector('input[name="mode"][value="transfer"]').focus();
      return;
    }
    if (!(err.field && fieldError(err.field, err.message))) {
      setText("start-error", plainWords(err.message));
    }
  } finally {
    button.disabled = false;
  }
}

async function sessionAction(path, body) {
  if (!current) return;
  setText("action-error", "");
  try {
    const session = await api("sessions/" + encodeURIComponent(current.id) + "/" + path,
      { method: "POST", body: body || {} });
    if (session && session.id === current.id) { merge(session); renderProgress(); }
  } catch (err) {
    if (err.status === 401) return signOut();
    setText("action-error", plainWords(err.message));
  }
}

function recapture(field) { return sessionAction("recapture", { field }); }

function cancelPayment() { return sessionAction("cancel"); }

function closeProgress() {
  closeStream();
  current = null;
  renderProgress();
  $("amount").focus();
}

async function loadCurrencies() {
  try {
    const response = await fetch("currencies.json", { cache: "no-cache" });
    exponents = await response.json();
  } catch (err) {
    exponents = { EUR: 2, USD: 2, GBP: 2, JPY: 0, KWD: 3 };
  }
  const list = $("currency-codes");
  list.replaceChildren(...Object.keys(exponents).map((code) => {
    const option = document.createElement("option");
    option.value = code;
    return option;
  }));
}

/** The tenant's languages, from the API, as the choices of the language list; a language the
 * URL asked for (a screen-pop) is chosen once it is known to be one of them. */
async function loadLanguages() {
  let languages = [];
  try {
    languages = (await api("languages")).languages || [];
  } catch (err) {
    if (err.status === 401) return signOut();
    languages = [];   // an older service: the call's own language only
  }
  const select = $("language");
  const wanted = select.dataset.wanted || select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...languages.map((language) => {
    const option = document.createElement("option");
    option.value = language.code;
    option.textContent = language.name === language.code ? language.code
      : language.name + " (" + language.code + ")";
    return option;
  }));
  select.value = languages.some((language) => language.code === wanted) ? wanted : "";
}

function applyPrefill() {
  const values = prefillFrom(location.search);
  if (values.amount) $("amount").value = values.amount;
  if (values.currency) $("currency").value = values.currency.toUpperCase();
  if (values.reference) $("reference").value = values.reference;
  if (values.call_uuid) $("call-uuid").value = values.call_uuid;
  if (values.language) $("language").dataset.wanted = values.language;
  if (values.mode === "stay" || values.mode === "transfer") {
    document.querySelector('input[name="mode"][value="' + values.mode + '"]').checked = true;
  }
  if (values.method === "card" || values.method === "link") {
    document.querySelector('input[name="method"][value="' + values.method + '"]').checked = true;
  }
}

async function init() {
  await loadCurrencies();
  applyPrefill();
  updateAmountPreview();
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    setText("token-error", "");
    $("token").removeAttribute("aria-invalid");
    const token = $("token").value.trim();
    if (!token) { setText("token-error", "Enter your access token."); $("token").focus(); return; }
    $("token").value = "";
    await signIn(token);
  });
  $("sign-out").addEventListener("click", signOut);
  $("start-form").addEventListener("submit", startPayment);
  $("amount").addEventListener("input", updateAmountPreview);
  $("currency").addEventListener("input", updateAmountPreview);
  $("refresh-sessions").addEventListener("click", refreshSessions);
  $("refresh-calls").addEventListener("click", refreshCalls);
  $("cancel-button").addEventListener("click", cancelPayment);
  $("charge-button").addEventListener("click", chargePayment);
  $("another-card-button").addEventListener("click", anotherCard);
  $("close-button").addEventListener("click", closeProgress);
  initRefunds({ api, $, plainWords, toMinorUnits, formatMinor,
    exponentOf: (code) => (code in exponents ? exponents[code] : 2) });
  document.body.dataset.ready = "true";
  if (sessionStorage.getItem(TOKEN_KEY)) await signIn(sessionStorage.getItem(TOKEN_KEY));
  else $("token").focus();
}

init();
