// Small DOM helpers: elements are built with createElement and text nodes,
// never from HTML strings, so user text cannot inject markup.
import { t, getLang } from './i18n.js';
import { ApiError, getSession } from './api.js';
import * as money from './money.js';

export const state = {
  meta: { currency: 'BRL', max_upload_size: 10485760, allowed_extensions: ['jpg', 'jpeg', 'png', 'pdf', 'mp4'],
    temporal_ui_url: '', temporal_namespace: 'default' },
};

let seq = 0;
export function uid(prefix) { seq += 1; return (prefix || 'f') + '-' + seq; }

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'for') el.htmlFor = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function fmtMoney(a) { return money.format(a, getLang(), state.meta.currency); }

// userTimeZone is the zone the user saved in their settings, so a time
// reads the same on every device and matches their e-mails; before login
// (or for a zone this browser does not know) the browser's own zone.
export function userTimeZone() {
  const s = getSession();
  const zone = s && s.user && s.user.time_zone;
  if (!zone) return undefined;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return undefined;
  }
}

// dateFormat is an Intl.DateTimeFormat in the user's language and zone.
export function dateFormat(opts) {
  return new Intl.DateTimeFormat(getLang(), { ...opts, timeZone: userTimeZone() });
}

export function fmtDate(d) {
  if (!d) return '—';
  return dateFormat({ dateStyle: 'short', timeStyle: 'short' }).format(new Date(d));
}

export function fmtPercent(v) {
  if (v === null || v === undefined) return '—';
  return new Intl.NumberFormat(getLang(), { style: 'percent', maximumFractionDigits: 2 }).format(v);
}

export function fmtSize(n) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return new Intl.NumberFormat(getLang(), { maximumFractionDigits: 1 }).format(n) + ' ' + units[i];
}

// duration writes ms as "2 d 3 h", "11 h 59 min", "4 min 10 s" or "9 s".
export function duration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return t('time.d', { n: d }) + ' ' + t('time.h', { n: hh });
  if (hh > 0) return t('time.h', { n: hh }) + ' ' + t('time.min', { n: m });
  if (m > 0) return t('time.min', { n: m }) + ' ' + t('time.s', { n: s });
  return t('time.s', { n: s });
}

// countdown is a live "… in 11 h 59 min" for a deadline; the ticker below
// refreshes every countdown on the page each second.
export function countdown(deadline, key) {
  const el = h('span', { class: 'countdown', 'data-deadline': deadline, 'data-key': key });
  tick(el);
  return el;
}

function tick(el) {
  const left = new Date(el.dataset.deadline).getTime() - Date.now();
  el.textContent = left > 0 ? t(el.dataset.key, { t: duration(left) }) : t('order.deadlinePassed');
  el.title = fmtDate(el.dataset.deadline);
}

setInterval(() => document.querySelectorAll('.countdown').forEach(tick), 1000);

// onLeave registers fn to run when the console leaves the current page
// (object URLs of previews are revoked so their bytes are freed).
const leaving = [];
export function onLeave(fn) { leaving.push(fn); }
export function leavePage() {
  for (const fn of leaving.splice(0)) {
    try { fn(); } catch { /* a cleanup must not stop the next page */ }
  }
}

// field is a labelled control; hint and error texts are tied to it.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = uid('h');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.code === 'network') return t('err.network');
    // The API's own words, in the language the console asked for.
    let msg = err.message || err.code;
    if (err.fields) msg += ' ' + Object.entries(err.fields).map(([k, v]) => k + ': ' + v).join('; ');
    return msg;
  }
  return String(err && err.message ? err.message : err);
}

// errorBox is a form's live error region.
export function errorBox() { return h('p', { class: 'error', role: 'alert', 'aria-live': 'assertive' }); }

// announce shows a success message in the page's polite live region.
export function announce(msg) {
  const el = document.getElementById('status');
  el.textContent = '';
  requestAnimationFrame(() => { el.textContent = msg; });
}

// submitting runs fn for a form's submit: one at a time, errors shown in
// the form's error box (the API's message as it came).
export function onSubmit(form, fn) {
  const box = form.querySelector('.error') || form.appendChild(errorBox());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = form.querySelectorAll('button[type=submit]');
    buttons.forEach((b) => { b.disabled = true; });
    box.textContent = '';
    try {
      await fn(new FormData(form), e.submitter);
    } catch (err) {
      box.textContent = errorText(err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

export function statusBadge(s) { return h('span', { class: 'badge st-' + s }, t('status.' + s)); }

export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length }, t('common.none'))))));
}
