// Refund or void a finished, approved payment from the agent panel.
//
// Shown only when the token may (GET me says refund: true) and the payment is approved; each
// action goes through a confirmation step that names the amount and the card's last four. One
// Idempotency-Key is made when the agent asks for the action and sent with every confirmation
// of it, so a double click, or a retry after the network dropped, refunds once. What is shown
// comes from the API's masked payment (last four only), each value checked for its shape.

let deps = null;        // {api, $, plainWords, toMinorUnits, formatMinor, exponentOf}
let allowed = false;    // the token may refund and void
let payment = null;     // the payment shown (GET payments/{id})
let pending = null;     // {kind, amount, reason, key}: asked for, waiting for confirmation

/** A request key for one refund or void the agent means: random, never a card-like number. */
export function newRequestKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "pnl-" + Array.from(bytes, (b) => "abcdefghijklmnop"[b >> 4] + "abcdefghijklmnop"[b & 15]).join("");
}

/** The words for a refund's answer (``status`` succeeded, unknown, refused, error). */
export function refundWords(refund, amountText) {
  const what = refund.kind === "void" ? "The payment was voided" : "Refunded " + amountText;
  if (refund.status === "succeeded") return what + ".";
  if (refund.status === "unknown" || refund.status === "pending") {
    return "The bank did not confirm the " + refund.kind + " in time. Do not send it again; it will be reconciled.";
  }
  const why = { already_settled: "the payment has already settled: refund it instead",
    over_refund: "more than is left to refund", already_refunded: "it has been refunded already",
    voided: "it was voided", not_found: "the bank does not know the payment",
    unsupported: "this gateway cannot do it" }[refund.refusal || ""];
  return "The bank refused the " + refund.kind + (why ? ": " + why : "") + ". Nothing was given back.";
}

function el(id) { return deps.$(id); }
function say(id, text) { el(id).textContent = text; }

function money(minor) {
  return deps.formatMinor(minor, deps.exponentOf(payment.currency)) + " " + payment.currency;
}

function render() {
  const box = el("refund-box");
  const show = allowed && payment !== null && !payment.pendingLoad;
  box.hidden = !show;
  if (!show) return;
  const last4 = /^\d{4}$/.test(payment.last4 || "") ? " card ending " + payment.last4 : "";
  const refundable = payment.refundable_minor || 0;
  say("refund-summary", "Paid " + money(payment.amount_minor) + last4 + ". Refunded so far "
    + money(payment.refunded_minor || 0) + "; " + (refundable ? "up to " + money(refundable)
      + " may be refunded." : "nothing is left to refund."));
  el("refund-button").disabled = refundable <= 0 || pending !== null;
  el("void-button").disabled = payment.status !== "approved" || (payment.refunded_minor || 0) > 0
    || pending !== null;
  el("refund-confirm").hidden = pending === null;
}

async function load(paymentId) {
  try {
    payment = await deps.api("payments/" + encodeURIComponent(paymentId));
  } catch (err) {
    payment = null;
  }
  render();
}

/** Called with each render of the session: shows the box for an approved, finished payment. */
export function showRefunds(session, finished) {
  if (!deps) return;
  const result = session && session.result;
  const id = result && result.status === "approved" && finished ? result.payment_id : null;
  if (!id || !allowed) {
    if (payment !== null || !el("refund-box").hidden) { payment = null; pending = null; render(); }
    return;
  }
  if (!payment || payment.id !== id) {
    payment = { id, pendingLoad: true };
    say("refund-result", "");
    load(id);
  }
}

/** Whether the signed-in token may refund and void: GET /me's ``refund``, which the panel
 *  asks once at sign-in and hands here (null when it could not be read: no refunds shown). */
export function setPermission(me) {
  allowed = Boolean(me && me.refund);
  render();
}

function ask(kind) {
  say("refund-error", "");
  say("refund-result", "");
  const reason = el("refund-reason").value.trim();
  let amount = null;
  if (kind === "refund") {
    const text = el("refund-amount").value.trim();
    if (text) {
      const parsed = deps.toMinorUnits(text, payment.currency, { [payment.currency]: deps.exponentOf(payment.currency) });
      if (parsed.error) { say("refund-error", parsed.error); el("refund-amount").focus(); return; }
      amount = parsed.minor;
    }
    if (amount !== null && amount > payment.refundable_minor) {
      say("refund-error", "At most " + money(payment.refundable_minor) + " may be refunded.");
      el("refund-amount").focus();
      return;
    }
  }
  pending = { kind, amount, reason, key: newRequestKey() };
  const last4 = /^\d{4}$/.test(payment.last4 || "") ? " to the card ending " + payment.last4 : "";
  say("refund-confirm-text", kind === "void"
    ? "Void this payment of " + money(payment.amount_minor) + "? The caller is not charged."
    : "Refund " + money(amount === null ? payment.refundable_minor : amount) + last4 + "?");
  render();
  el("refund-confirm-yes").focus();
}

async function confirm() {
  if (!pending) return;
  const asked = pending;
  el("refund-confirm-yes").disabled = true;
  try {
    const body = asked.kind === "refund" && asked.amount !== null ? { amount: asked.amount } : {};
    if (asked.reason) body.reason = asked.reason;
    const answer = await deps.api("payments/" + encodeURIComponent(payment.id) + "/" + asked.kind,
      { method: "POST", body, headers: { "Idempotency-Key": asked.key } });
    pending = null;
    payment = answer.payment;
    say("refund-result", refundWords(answer.refund, money(answer.refund.amount_minor)));
    el("refund-amount").value = "";
  } catch (err) {
    if (err.status === 0) {       // not known to have arrived: confirming again sends the same key
      say("refund-error", deps.plainWords(err.message));
      return;
    }
    pending = null;
    if (err.body && err.body.refund) {
      payment = err.body.payment || payment;
      say("refund-result", refundWords(err.body.refund, money(err.body.refund.amount_minor)));
    } else {
      say("refund-error", deps.plainWords(err.message));
    }
  } finally {
    el("refund-confirm-yes").disabled = false;
    render();
  }
}

function cancelAsk() {
  pending = null;
  render();
  el("refund-button").focus();
}

export function initRefunds(dependencies) {
  deps = dependencies;
  el("refund-button").addEventListener("click", () => ask("refund"));
  el("void-button").addEventListener("click", () => ask("void"));
  el("refund-confirm-yes").addEventListener("click", confirm);
  el("refund-confirm-no").addEventListener("click", cancelAsk);
}
