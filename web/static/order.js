// The order page: state, live deadlines, the actions the API allows this
// user now (allowed_actions), proposals, evidence and the timeline.
import { t, has, getLang } from './i18n.js';
import { api, upload, fetchBlob, getSession } from './api.js';
import { h, state, field, onSubmit, errorBox, errorText, fmtMoney, fmtDate, fmtSize, countdown, statusBadge, table,
  announce, onLeave } from './ui.js';
import * as money from './money.js';

const MONEY_KEYS = ['amount', 'previous_amount', 'hold', 'released', 'penalty', 'platform_fee', 'provider_share', 'refund',
  'contestation_fee', 'contest_fee_returned', 'contest_fee_forfeited', 'refund_amount', 'previous_refund'];
const DATE_KEYS = ['confirm_deadline', 'new_deadline', 'due_date'];
const TEXT_KEYS = ['reason', 'note', 'file_name', 'message', 'hours'];

export async function orderView(id, nav) {
  const [o, events, evidence] = await Promise.all([api('GET', '/v1/orders/' + id), api('GET', '/v1/orders/' + id + '/events'),
    api('GET', '/v1/orders/' + id + '/evidence')]);
  const me = getSession().user;
  const allowed = o.allowed_actions || [];
  const after = (msgKey) => { announce(t(msgKey)); nav.render(); };
  const post = (action, body) => {
    const path = action === 'resolve' || action === 'extend_deadline'
      ? '/v1/admin/orders/' + o.id + '/' + action.replace('_', '-')
      : '/v1/orders/' + o.id + '/' + (ISSUE17_PATHS[action] || (action === 'propose' ? 'proposals' : action));
    // If-Match: the action applies to the order as shown, or is refused.
    return api('POST', path, body, { idempotent: true, ifMatch: o.version });
  };
  const doneKey = (action) => 'action.' + action;

  const panels = [];
  const simple = (action, hint) => {
    const f = h('form', { class: 'card action', 'data-action': action, novalidate: true },
      h('h3', {}, t('action.' + action)), hint ? h('p', {}, hint) : null, errorBox(),
      h('button', { type: 'submit', id: 'do-' + action }, t('action.' + action)));
    // Accept names the proposal shown; the other actions take no fields.
    const body = action === 'accept' ? { proposal_version: o.proposal_version } : undefined;
    return onSubmit(f, async () => { await post(action, body); after(doneKey(action)); });
  };

  if (allowed.includes('accept')) {
    panels.push(simple('accept', t(me.role === 'client' ? 'accept.hold' : 'accept.provider', { amount: fmtMoney(o.amount) })));
  }
  if (allowed.includes('propose')) {
    const f = h('form', { class: 'card action', 'data-action': 'propose', novalidate: true }, h('h3', {}, t('action.propose')),
      h('div', { class: 'row' },
        field(t('propose.amount'), h('input', { name: 'amount', id: 'propose-amount', inputmode: 'decimal', required: true })),
        field(t('order.dueDate'), h('input', { name: 'due_date', type: 'datetime-local' }))),
      field(t('propose.note'), h('textarea', { name: 'note', rows: 2, maxlength: 2000 })),
      errorBox(), h('button', { type: 'submit', id: 'do-propose' }, t('propose.send')));
    panels.push(onSubmit(f, async (d) => {
      const amount = money.parseInput(d.get('amount'), getLang());
      if (!amount) throw new Error(t('err.amount'));
      const body = { amount, note: d.get('note') };
      if (d.get('due_date')) body.due_date = new Date(d.get('due_date')).toISOString();
      await post('propose', body);
      after('action.propose');
    }));
  }
  if (allowed.includes('deliver')) panels.push(simple('deliver'));
  if (allowed.includes('confirm')) panels.push(simple('confirm'));
  if (allowed.includes('contest')) {
    const f = h('form', { class: 'card action', 'data-action': 'contest', novalidate: true }, h('h3', {}, t('action.contest')),
      h('p', {}, t('contest.hint', { fee: fmtMoney(o.terms.contestation_fee) })),
      field(t('common.reason'), h('input', { name: 'reason', id: 'contest-reason', required: true, maxlength: 2000 })),
      errorBox(), h('button', { type: 'submit', id: 'do-contest', class: 'danger' }, t('contest.send')));
    panels.push(onSubmit(f, async (d) => { await post('contest', { reason: d.get('reason') }); after('action.contest'); }));
  }
  panels.push(...issue17Panels(o, me, allowed, post, after));
  if (allowed.includes('add_evidence')) panels.push(evidenceForm(o, nav));
  if (allowed.includes('resolve')) panels.push(resolveForm(o, post, after));
  if (allowed.includes('extend_deadline')) {
    const f = h('form', { class: 'card action', 'data-action': 'extend_deadline', novalidate: true }, h('h3', {}, t('action.extend_deadline')),
      h('div', { class: 'row' },
        field(t('extend.hours'), h('input', { name: 'hours', id: 'extend-hours', inputmode: 'decimal', required: true })),
        field(t('common.reason'), h('input', { name: 'reason', id: 'extend-reason', required: true }))),
      errorBox(), h('button', { type: 'submit', id: 'do-extend_deadline' }, t('extend.send')));
    panels.push(onSubmit(f, async (d) => {
      await post('extend_deadline', { hours: String(d.get('hours')).trim().replace(',', '.'), reason: d.get('reason') });
      after('action.extend_deadline');
    }));
  }
  if (allowed.includes('cancel')) panels.push(cancelForm(o, me, post, after));

  return h('article', { id: 'order', 'data-status': o.status },
    h('h1', {}, '#' + o.id + ' — ' + o.title),
    header(o, me),
    h('section', { 'aria-labelledby': 'actions-h' }, h('h2', { id: 'actions-h' }, t('common.actions')),
      panels.length ? h('div', { class: 'actions' }, panels) : h('p', { id: 'no-actions' }, t('order.noActions'))),
    proposalsTable(o),
    evidenceList(o, evidence.items),
    timeline(events.items));
}

function header(o, me) {
  let deadline = null;
  if (o.status === 'negotiating') deadline = countdown(o.proposal_expires_at, 'order.proposalExpires');
  else if (o.status === 'delivered' && o.auto_confirm_held) deadline = h('span', {}, t('order.autoConfirmHeld'));
  else if (o.status === 'delivered' && o.confirm_deadline) deadline = countdown(o.confirm_deadline, 'order.autoConfirm');
  else if (o.status === 'in_progress' && o.due_date) deadline = countdown(o.due_date, 'order.due');
  const outcome = ['completed', 'resolved', 'cancelled'].includes(o.status) ? h('dl', { class: 'grid', id: 'outcome' },
    h('dt', {}, t('order.providerNet')), h('dd', {}, fmtMoney(o.outcome.provider_net)),
    h('dt', {}, t('order.revenue')), h('dd', {}, fmtMoney(o.outcome.platform_revenue)),
    o.outcome.refund ? [h('dt', {}, t('order.refund')), h('dd', {}, fmtMoney(o.outcome.refund))] : null,
    o.outcome.penalty ? [h('dt', {}, t('order.penalty')), h('dd', {}, fmtMoney(o.outcome.penalty))] : null) : null;
  const m = state.meta;
  return h('section', { class: 'card summary' },
    h('p', { class: 'big' }, statusBadge(o.status), ' ', h('strong', { id: 'order-amount' }, fmtMoney(o.amount)),
      deadline ? [' · ', h('span', { id: 'deadline' }, deadline)] : null),
    o.description ? h('p', {}, o.description) : null,
    h('dl', { class: 'grid' },
      h('dt', {}, t('role.client')), h('dd', { id: 'order-client', 'data-user': o.client_id }, o.client_name),
      h('dt', {}, t('role.provider')), h('dd', { id: 'order-provider', 'data-user': o.provider_id }, o.provider_name),
      o.due_date ? [h('dt', {}, t('order.dueDate')), h('dd', {}, fmtDate(o.due_date))] : null,
      h('dt', {}, t('order.platformFee')), h('dd', {}, o.terms.platform_fee_percentage + '%'),
      h('dt', {}, t('order.contestFee')), h('dd', {}, fmtMoney(o.terms.contestation_fee)),
      h('dt', {}, t('order.cancelFee')), h('dd', {}, o.terms.cancellation_fee_percentage + '%'),
      o.contest_reason ? [h('dt', {}, t('order.contestReason')), h('dd', {}, o.contest_reason)] : null,
      issue17Summary(o)),
    outcome,
    me.role === 'admin' && m.temporal_ui_url ? h('p', {}, h('a', { id: 'workflow-link', target: '_blank', rel: 'noopener',
      href: m.temporal_ui_url + '/namespaces/' + encodeURIComponent(m.temporal_namespace) + '/workflows/' + encodeURIComponent(o.workflow_id) },
    t('order.workflow') + ' ↗')) : null);
}

function cancelForm(o, me, post, after) {
  const penalty = o.cancel_penalty || '0.00';
  const free = money.toCents(penalty) === 0n;
  const confirmStep = h('div', { hidden: true, class: 'confirm-step' },
    field(t('common.reason'), h('input', { name: 'reason', id: 'cancel-reason', required: me.role === 'admin' })),
    h('button', { type: 'submit', id: 'do-cancel-confirm', class: 'danger' }, t('cancel.confirm')));
  const open = h('button', { type: 'button', id: 'do-cancel', class: 'secondary', onclick: () => {
    confirmStep.hidden = false; open.hidden = true; confirmStep.querySelector('input').focus();
  } }, t('action.cancel'));
  const f = h('form', { class: 'card action', 'data-action': 'cancel', novalidate: true }, h('h3', {}, t('action.cancel')),
    h('p', { id: 'cancel-penalty' }, free ? t('cancel.free') : t('cancel.penalty', { penalty: fmtMoney(penalty) })),
    open, confirmStep, errorBox());
  // The penalty shown is the penalty agreed to: a different one is refused.
  return onSubmit(f, async (d) => {
    await post('cancel', { reason: d.get('reason'), expected_penalty: penalty });
    after('action.cancel');
  });
}

function resolveForm(o, post, after) {
  const out = h('output', { id: 'resolve-preview', 'aria-live': 'polite', for: 'resolve-refund' });
  const refund = h('input', { name: 'refund', id: 'resolve-refund', inputmode: 'decimal', required: true });
  const preview = () => {
    out.textContent = '';
    const v = money.parseInput(refund.value, getLang());
    const r = v && money.resolution(o.amount, v, o.terms.platform_fee_percentage, o.contest_fee_held);
    if (!r) {
      if (refund.value.trim()) out.append(h('span', { class: 'error' }, t('resolve.invalid', { min: fmtMoney('0.00'), max: fmtMoney(o.amount) })));
      return;
    }
    out.append(h('dl', { class: 'grid' },
      h('dt', {}, t('resolve.toClient')), h('dd', { id: 'split-client' }, fmtMoney(r.toClient)),
      h('dt', {}, t('resolve.toProvider')), h('dd', { id: 'split-provider' }, fmtMoney(r.providerShare)),
      h('dt', {}, t('resolve.toPlatform')), h('dd', { id: 'split-platform' }, fmtMoney(r.toPlatform))),
    h('small', { class: 'hint' }, t(r.contestFeeReturned ? 'resolve.feeBack' : 'resolve.feeKept') + ': ' + fmtMoney(o.contest_fee_held)));
  };
  refund.addEventListener('input', preview);
  const f = h('form', { class: 'card action', 'data-action': 'resolve', novalidate: true }, h('h3', {}, t('action.resolve')),
    h('div', { class: 'row' }, field(t('resolve.refund'), refund, fmtMoney('0.00') + ' – ' + fmtMoney(o.amount)),
      field(t('common.reason'), h('input', { name: 'reason', id: 'resolve-reason', required: true }))),
    h('h4', {}, t('resolve.preview')), out,
    errorBox(), h('button', { type: 'submit', id: 'do-resolve' }, t('resolve.send')));
  return onSubmit(f, async (d) => {
    const v = money.parseInput(d.get('refund'), getLang());
    if (!v) throw new Error(t('err.amount'));
    await post('resolve', { refund_amount: v, reason: d.get('reason') });
    after('action.resolve');
  });
}

function evidenceForm(o, nav) {
  const m = state.meta;
  const exts = m.allowed_extensions || [];
  const file = h('input', { type: 'file', name: 'file', id: 'evidence-file', required: true });
  const progress = h('progress', { id: 'evidence-progress', max: 100, value: 0, hidden: true, 'aria-label': t('evidence.progress') });
  const pct = h('span', { id: 'evidence-pct', 'aria-live': 'polite' });
  const f = h('form', { class: 'card action', 'data-action': 'add_evidence', novalidate: true }, h('h3', {}, t('action.add_evidence')),
    field(t('evidence.file', { ext: exts.join(', '), size: fmtSize(m.max_upload_size) }), file),
    field(t('evidence.description'), h('input', { name: 'description', id: 'evidence-description', maxlength: 2000 })),
    h('div', { class: 'progress' }, progress, pct),
    errorBox(), h('button', { type: 'submit', id: 'do-upload' }, t('evidence.upload')));
  return onSubmit(f, async (d) => {
    const chosen = file.files[0];
    if (!chosen) throw new Error(t('err.required'));
    // Too big is known before sending; the file's type and content are
    // the API's to judge (it checks the bytes, not only the name).
    if (chosen.size > m.max_upload_size) throw new Error(t('evidence.tooBig', { size: fmtSize(chosen.size), max: fmtSize(m.max_upload_size) }));
    const form = new FormData();
    form.append('file', chosen, chosen.name);
    if (d.get('description')) form.append('description', d.get('description'));
    progress.hidden = false;
    progress.value = 0;
    try {
      await upload('/v1/orders/' + o.id + '/evidence', form, (loaded, total) => {
        const p = Math.round((loaded / total) * 100);
        progress.value = p;
        pct.textContent = p + '%';
      });
    } catch (err) {
      progress.hidden = true;
      pct.textContent = '';
      throw err;
    }
    announce(t('evidence.uploaded'));
    nav.render();
  });
}

// Evidence bytes come from the same-origin content route with the bearer
// token, as blobs shown through object URLs: the CSP needs no bucket
// origin, only blob: for images and media. Every URL is revoked when the
// page is left.
const IMAGE_TYPES = ['image/jpeg', 'image/png'];
const PREVIEW_TYPES = ['application/pdf', 'video/mp4'];

function evidenceBlobs() {
  let gone = false;
  const urls = [];
  onLeave(() => { gone = true; urls.splice(0).forEach((u) => URL.revokeObjectURL(u)); });
  // objectURL fetches a piece of evidence; null once the page is left.
  return async (path) => {
    const blob = await fetchBlob(path);
    if (gone) return null;
    const u = URL.createObjectURL(blob);
    urls.push(u);
    return u;
  };
}

function evidenceList(o, items) {
  const objectURL = evidenceBlobs();
  const rows = items.map((e) => {
    const box = errorBox();
    const content = '/v1/orders/' + o.id + '/evidence/' + e.id + '/content';
    const dl = h('button', { type: 'button', class: 'secondary', 'data-evidence': e.id, onclick: async () => {
      box.textContent = '';
      try {
        const r = await api('GET', '/v1/orders/' + o.id + '/evidence/' + e.id);
        // A short-lived link served as an attachment: the file downloads
        // and the page stays.
        const a = h('a', { href: r.url, download: e.file_name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
      } catch (err) { box.textContent = errorText(err); }
    } }, t('evidence.download'));
    let thumb = null;
    let preview = null;
    let area = null;
    if (IMAGE_TYPES.includes(e.content_type)) {
      thumb = h('img', { class: 'thumb', alt: t('evidence.previewOf', { name: e.file_name }), 'data-evidence-thumb': e.id });
      objectURL(content).then((u) => { if (u) thumb.src = u; }, (err) => { thumb.remove(); box.textContent = errorText(err); });
    } else if (PREVIEW_TYPES.includes(e.content_type)) {
      const video = e.content_type === 'video/mp4';
      area = h('div', { class: 'preview', hidden: true });
      let shown = null;
      preview = h('button', { type: 'button', class: 'secondary', 'data-evidence-preview': e.id, 'aria-expanded': video ? 'false' : null,
        onclick: async () => {
          box.textContent = '';
          if (video && shown) {
            // Hide and show again without fetching twice.
            area.hidden = !area.hidden;
            if (area.hidden) shown.pause();
            preview.setAttribute('aria-expanded', String(!area.hidden));
            preview.textContent = t(area.hidden ? 'evidence.preview' : 'evidence.hide');
            return;
          }
          preview.disabled = true;
          try {
            const u = await objectURL(content);
            if (!u) return;
            if (video) {
              shown = h('video', { controls: true, preload: 'metadata', src: u, 'aria-label': t('evidence.previewOf', { name: e.file_name }) });
              area.append(shown);
              area.hidden = false;
              preview.setAttribute('aria-expanded', 'true');
              preview.textContent = t('evidence.hide');
            } else {
              // A PDF opens in the browser's viewer in a new tab.
              const a = h('a', { href: u, target: '_blank', rel: 'noopener', hidden: true });
              document.body.append(a);
              a.click();
              a.remove();
            }
          } catch (err) {
            box.textContent = errorText(err);
          } finally {
            preview.disabled = false;
          }
        } }, t('evidence.preview'));
    }
    return h('tr', {}, h('td', {}, thumb, e.file_name, area), h('td', {}, e.description), h('td', {}, e.content_type),
      h('td', { class: 'num' }, fmtSize(e.size)), h('td', {}, t('role.' + e.uploader_role)), h('td', {}, fmtDate(e.created_at)),
      h('td', {}, h('code', { title: e.sha256 }, e.sha256.slice(0, 12))),
      h('td', {}, h('div', { class: 'evidence-actions' }, dl, preview), box));
  });
  return h('section', { class: 'card', id: 'evidence' }, h('h2', {}, t('order.evidence')),
    items.length ? table([t('evidence.fileName'), t('order.description'), t('evidence.type'), t('evidence.size'), t('common.role'), t('common.date'), 'SHA-256', t('common.actions')], rows)
      : h('p', {}, t('evidence.none')));
}

function proposalsTable(o) {
  const ps = o.proposals || [];
  if (!ps.length) return null;
  return h('section', { class: 'card', id: 'proposals' }, h('h2', {}, t('order.proposals')),
    table(['v', t('common.role'), t('common.amount'), t('order.dueDate'), t('propose.note'), t('common.date')], ps.map((p) => h('tr', {},
      h('td', {}, String(p.version)), h('td', {}, t('role.' + p.proposer_role)), h('td', { class: 'num' }, fmtMoney(p.amount)),
      h('td', {}, p.due_date ? fmtDate(p.due_date) : '—'), h('td', {}, p.note), h('td', {}, fmtDate(p.created_at))))));
}

function timeline(items) {
  return h('section', { class: 'card', id: 'timeline' }, h('h2', {}, t('order.timeline')),
    h('ol', { class: 'timeline' }, items.map((e) => {
      const d = e.data || {};
      const details = [];
      for (const k of MONEY_KEYS) if (d[k] !== undefined && d[k] !== null && d[k] !== '') details.push(t('data.' + k) + ': ' + fmtMoney(d[k]));
      for (const k of DATE_KEYS) if (d[k]) details.push(t('data.' + k) + ': ' + fmtDate(d[k]));
      for (const k of TEXT_KEYS) if (d[k]) details.push(t('data.' + k) + ': ' + d[k]);
      return h('li', { class: e.refused ? 'refused' : '', 'data-action': e.action },
        h('time', { datetime: e.created_at }, fmtDate(e.created_at)), ' ',
        h('strong', {}, has('event.' + e.action) ? t('event.' + e.action) : e.action),
        e.refused ? ' (' + t('event.refused') + ')' : '',
        ' · ', t('role.' + e.actor_role),
        e.from && e.to && e.from !== e.to ? [' · ', statusBadge(e.from), ' → ', statusBadge(e.to)] : null,
        details.length ? h('div', { class: 'details' }, details.join(' · ')) : null);
    })));
}

// ---------------------------------------------------------------------------
// Issue 17: disputes the parties settle, revision requests.

const ISSUE17_PATHS = { offer_settlement: 'settlement-offers', accept_settlement: 'settlement/accept',
  request_ruling: 'request-ruling', request_revision: 'revisions' };

// issue17Summary: the dispute's negotiation window or queue, who resolved
// it, and the revisions asked for so far.
function issue17Summary(o) {
  const out = [];
  if (o.status === 'disputed' && o.dispute_queued_at) {
    out.push(h('dt', {}, t('dispute.queue')), h('dd', { id: 'dispute-queued' }, t('dispute.queuedSince', { at: fmtDate(o.dispute_queued_at) })));
  } else if (o.status === 'disputed' && o.negotiation_ends_at) {
    out.push(h('dt', {}, t('dispute.queue')), h('dd', { id: 'dispute-negotiation' }, countdown(o.negotiation_ends_at, 'dispute.negotiationEnds')));
  }
  if (o.settlement && o.status === 'disputed') {
    out.push(h('dt', {}, t('settlement.latest')), h('dd', { id: 'settlement-latest' },
      t('settlement.describe', { v: o.settlement.version, who: t('role.' + o.settlement.offered_role), refund: fmtMoney(o.settlement.refund_amount) })));
  }
  if (o.resolved_by) out.push(h('dt', {}, t('order.resolvedBy')), h('dd', { id: 'resolved-by' }, t('resolvedBy.' + o.resolved_by)));
  if (o.terms.max_revisions > 0 || o.revision_count > 0) {
    out.push(h('dt', {}, t('revision.count')), h('dd', { id: 'revision-count' },
      t('revision.of', { n: o.revision_count, max: o.terms.max_revisions })));
  }
  for (const r of o.revisions || []) {
    out.push(h('dt', {}, t('revision.n', { n: r.number })), h('dd', { class: 'revision-reason' }, r.reason));
  }
  return out;
}

function issue17Panels(o, me, allowed, post, after) {
  const panels = [];
  if (allowed.includes('request_revision')) {
    const left = o.terms.max_revisions - o.revision_count;
    const f = h('form', { class: 'card action', 'data-action': 'request_revision', novalidate: true }, h('h3', {}, t('action.request_revision')),
      h('p', {}, t('revision.hint', { left })),
      field(t('common.reason'), h('textarea', { name: 'reason', id: 'revision-reason', rows: 2, required: true, maxlength: 2000 })),
      errorBox(), h('button', { type: 'submit', id: 'do-request_revision' }, t('revision.send')));
    panels.push(onSubmit(f, async (d) => {
      if (!String(d.get('reason') || '').trim()) throw new Error(t('err.required'));
      await post('request_revision', { reason: d.get('reason') });
      after('action.request_revision');
    }));
  }
  if (allowed.includes('accept_settlement') && o.settlement) {
    const r = money.resolution(o.amount, o.settlement.refund_amount, o.terms.platform_fee_percentage, o.contest_fee_held);
    const f = h('form', { class: 'card action', 'data-action': 'accept_settlement', novalidate: true }, h('h3', {}, t('action.accept_settlement')),
      h('p', { id: 'settlement-terms' }, t('settlement.terms', { client: fmtMoney(r.toClient), provider: fmtMoney(r.providerShare) })),
      errorBox(), h('button', { type: 'submit', id: 'do-accept_settlement' }, t('action.accept_settlement')));
    // The offer shown is the offer accepted: another is refused.
    panels.push(onSubmit(f, async () => {
      await post('accept_settlement', { offer_version: o.settlement.version });
      after('action.accept_settlement');
    }));
  }
  if (allowed.includes('offer_settlement')) {
    const out = h('output', { id: 'settlement-preview', 'aria-live': 'polite', for: 'settlement-refund' });
    const refund = h('input', { name: 'refund', id: 'settlement-refund', inputmode: 'decimal', required: true });
    refund.addEventListener('input', () => {
      out.textContent = '';
      const v = money.parseInput(refund.value, getLang());
      const r = v && money.resolution(o.amount, v, o.terms.platform_fee_percentage, o.contest_fee_held);
      if (r) out.append(t('settlement.terms', { client: fmtMoney(r.toClient), provider: fmtMoney(r.providerShare) }));
      else if (refund.value.trim()) out.append(h('span', { class: 'error' }, t('resolve.invalid', { min: fmtMoney('0.00'), max: fmtMoney(o.amount) })));
    });
    const mine = me.role === 'client' ? o.client_offers : o.provider_offers;
    const f = h('form', { class: 'card action', 'data-action': 'offer_settlement', novalidate: true }, h('h3', {}, t('action.offer_settlement')),
      h('p', {}, t('settlement.hint', { left: 5 - mine })),
      h('div', { class: 'row' }, field(t('resolve.refund'), refund, fmtMoney('0.00') + ' – ' + fmtMoney(o.amount)),
        field(t('propose.note'), h('input', { name: 'note', id: 'settlement-note', maxlength: 2000 }))),
      out, errorBox(), h('button', { type: 'submit', id: 'do-offer_settlement' }, t('settlement.send')));
    panels.push(onSubmit(f, async (d) => {
      const v = money.parseInput(d.get('refund'), getLang());
      if (!v) throw new Error(t('err.amount'));
      await post('offer_settlement', { refund_amount: v, note: d.get('note') });
      after('action.offer_settlement');
    }));
  }
  if (allowed.includes('request_ruling')) {
    const f = h('form', { class: 'card action', 'data-action': 'request_ruling', novalidate: true }, h('h3', {}, t('action.request_ruling')),
      h('p', {}, t('ruling.hint')), errorBox(),
      h('button', { type: 'submit', id: 'do-request_ruling', class: 'secondary' }, t('action.request_ruling')));
    panels.push(onSubmit(f, async () => { await post('request_ruling', {}); after('action.request_ruling'); }));
  }
  return panels;
}
