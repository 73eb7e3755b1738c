// Ordem's web console: a small router over the public JSON API.
import { t, getLang, setLang, languages } from './i18n.js';
import { api, getSession, setSession, setUnauthenticatedHandler } from './api.js';
import { h, state, field, onSubmit, errorBox, errorText, fmtMoney, fmtDate, fmtPercent, duration, countdown,
  statusBadge, table, announce, leavePage, dateFormat } from './ui.js';
import { orderView } from './order.js';
import * as money from './money.js';

const STATUSES = ['negotiating', 'in_progress', 'delivered', 'disputed', 'completed', 'resolved', 'cancelled', 'expired'];
const main = document.getElementById('main');

export function navigate(path, replace) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

setUnauthenticatedHandler(() => { setSession(null); navigate('/login', true); });

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/v1/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render());

function role() { const s = getSession(); return s && s.user.role; }

// ---------------------------------------------------------------- layout

function navLinks() {
  const r = role();
  const links = [['/', 'nav.home']];
  if (r === 'client') links.push(['/orders', 'nav.orders'], ['/orders/new', 'nav.new'], ['/wallet', 'nav.wallet']);
  if (r === 'provider') links.push(['/orders', 'nav.jobs'], ['/wallet', 'nav.earnings']);
  if (r === 'admin') {
    links.push(['/orders', 'nav.orders'], ['/admin/disputes', 'nav.disputes'], ['/admin/deposits', 'nav.deposits'],
      ['/admin/payouts', 'nav.payouts'], ['/admin/users', 'nav.users'], ['/admin/config', 'nav.config'],
      ['/admin/audit', 'nav.audit']);
  }
  if (r) links.push(['/account', 'nav.account']);
  links.push(['/settings', 'nav.settings']);
  return links;
}

function renderHeader() {
  const header = document.getElementById('header');
  header.textContent = '';
  const s = getSession();
  const langSel = h('select', { id: 'lang', 'aria-label': t('nav.language'),
    onchange: (e) => { setLang(e.target.value); render(); } },
  languages.map(([code, name]) => h('option', { value: code, selected: code === getLang() }, name)));
  const here = location.pathname;
  header.append(
    h('a', { href: '/', class: 'brand' }, 'Ordem'),
    s ? h('nav', { 'aria-label': 'Menu' }, h('ul', {}, navLinks().map(([href, key]) =>
      h('li', {}, h('a', { href, 'aria-current': here === href ? 'page' : null }, t(key)))))) : null,
    h('div', { class: 'who' },
      s ? h('a', { href: '/notifications', id: 'inbox-link', 'aria-current': here === '/notifications' ? 'page' : null },
        t('nav.inbox'), ' ', h('span', { id: 'unread-count', class: 'count' })) : null,
      s ? h('span', { id: 'whoami' }, s.user.name + ' · ' + t('role.' + s.user.role)) : null,
      langSel,
      s ? h('button', { type: 'button', class: 'link', id: 'logout', onclick: logout }, t('nav.logout')) : null));
  if (s) refreshUnread();
}

// refreshUnread shows the number of unread notifications in the header.
async function refreshUnread() {
  const el = document.getElementById('unread-count');
  let n;
  try { n = (await api('GET', '/v1/notifications?limit=1&unread=true')).unread_count; } catch { return; }
  if (!el.isConnected) return;
  el.textContent = String(n);
  el.dataset.count = String(n);
  el.setAttribute('aria-label', t('inbox.unread', { n }));
}

async function logout() {
  try { await api('POST', '/v1/auth/logout'); } catch { /* the token may already be gone */ }
  setSession(null);
  navigate('/login');
}

const routes = [
  [/^\/login$/, loginView, null],
  [/^\/signup$/, signupView, null],
  [/^\/$/, homeView, ['client', 'provider', 'admin']],
  [/^\/orders$/, ordersView, ['client', 'provider', 'admin']],
  [/^\/orders\/new$/, newOrderView, ['client']],
  [/^\/orders\/(\d+)$/, (m) => orderView(m[1], { navigate, render }), ['client', 'provider', 'admin']],
  [/^\/wallet$/, walletView, ['client', 'provider']],
  [/^\/notifications$/, inboxView, ['client', 'provider', 'admin']],
  [/^\/settings$/, settingsView, ['client', 'provider', 'admin']],
  [/^\/admin\/disputes$/, disputesView, ['admin']],
  [/^\/admin\/config$/, configView, ['admin']],
  [/^\/admin\/users$/, usersView, ['admin']],
  [/^\/admin\/deposits$/, depositsView, ['admin']],
  [/^\/admin\/payouts$/, payoutsView, ['admin']],
  [/^\/admin\/audit$/, auditView, ['admin']],
  // Accounts: passwords and sessions.
  [/^\/account$/, accountView, ['client', 'provider', 'admin']],
  [/^\/reset-password$/, resetPasswordView, null],
  [/^\/admin\/users\/(\d+)\/password-reset$/, adminResetView, ['admin']],
];

// publicPaths open without a session.
const publicPaths = ['/login', '/signup', '/reset-password'];

let renderSeq = 0;

export async function render() {
  const seq = ++renderSeq;
  // The page being left frees what it holds (preview object URLs).
  leavePage();
  document.documentElement.lang = getLang();
  const path = location.pathname;
  let s = getSession();
  if (s && s.expires_at && new Date(s.expires_at).getTime() <= Date.now()) { setSession(null); s = null; }
  if (!s && !publicPaths.includes(path)) return navigate('/login', true);
  if (s && (path === '/login' || path === '/signup')) return navigate('/', true);
  renderHeader();
  let found = null;
  for (const [re, view, roles] of routes) {
    const m = re.exec(path);
    if (m && (!roles || roles.includes(role()))) { found = [view, m]; break; }
  }
  main.textContent = '';
  main.append(h('p', { class: 'loading' }, t('common.loading')));
  let content;
  try {
    content = found ? await found[0](found[1]) : h('section', {}, h('h1', { tabindex: '-1' }, '404'));
  } catch (err) {
    content = h('section', {}, h('h1', { tabindex: '-1' }, 'Ordem'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
  if (seq !== renderSeq) return;
  main.textContent = '';
  main.append(content);
  const h1 = main.querySelector('h1');
  if (h1) { h1.setAttribute('tabindex', '-1'); document.title = h1.textContent + ' · Ordem'; }
  if (h1 && !main.dataset.keepFocus) h1.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- auth

function loginView() {
  const f = h('form', { class: 'card narrow', id: 'login-form', novalidate: true },
    h('h1', {}, t('auth.login')),
    field(t('auth.email'), h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true })),
    field(t('auth.password'), h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
    errorBox(),
    h('button', { type: 'submit' }, t('auth.login')),
    h('p', {}, t('auth.noAccount') + ' ', h('a', { href: '/signup' }, t('auth.signup'))),
    h('p', {}, t('reset.have') + ' ', h('a', { href: '/reset-password', id: 'reset-link' }, t('reset.title'))));
  return onSubmit(f, async (d) => {
    const r = await api('POST', '/v1/auth/login', { email: d.get('email'), password: d.get('password') });
    setSession({ token: r.token, user: r.user, expires_at: r.expires_at });
    navigate('/');
  });
}

function signupView() {
  const f = h('form', { class: 'card narrow', id: 'signup-form', novalidate: true },
    h('h1', {}, t('auth.signup')),
    field(t('auth.name'), h('input', { name: 'name', autocomplete: 'name', required: true })),
    field(t('auth.email'), h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
    field(t('auth.phone'), h('input', { type: 'tel', name: 'phone', autocomplete: 'tel' })),
    field(t('auth.password'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
    field(t('auth.role'), h('select', { name: 'role' },
      h('option', { value: 'client' }, t('role.client')), h('option', { value: 'provider' }, t('role.provider')))),
    errorBox(),
    h('button', { type: 'submit' }, t('auth.signup')),
    h('p', {}, t('auth.haveAccount') + ' ', h('a', { href: '/login' }, t('auth.login'))));
  return onSubmit(f, async (d) => {
    // The texts Ordem sends follow the language chosen here (the time
    // zone is set in the settings: America/Sao_Paulo until then).
    const body = { name: d.get('name'), email: d.get('email'), phone: d.get('phone'), password: d.get('password'), role: d.get('role'),
      locale: getLang() };
    await api('POST', '/v1/auth/register', body);
    const r = await api('POST', '/v1/auth/login', { email: body.email, password: body.password });
    setSession({ token: r.token, user: r.user, expires_at: r.expires_at });
    navigate('/');
  });
}

// ---------------------------------------------------------------- dashboards

function balances(b) {
  return h('div', { class: 'cards' },
    h('div', { class: 'card stat' }, h('span', {}, t('wallet.available')), h('strong', { id: 'balance-available' }, fmtMoney(b.available))),
    h('div', { class: 'card stat' }, h('span', {}, t('wallet.blocked')), h('strong', { id: 'balance-blocked' }, fmtMoney(b.blocked))));
}

function byStatus(counts, titleKey) {
  return h('section', { class: 'card' }, h('h2', {}, t(titleKey)),
    h('ul', { class: 'counts' }, STATUSES.map((s) => h('li', {},
      h('a', { href: '/orders?status=' + s }, statusBadge(s), ' ', h('strong', {}, String(counts[s] ?? 0)))))));
}

function awaiting(items) {
  return h('section', { class: 'card' }, h('h2', {}, t('dash.awaiting')),
    items.length ? h('ul', { class: 'list', id: 'awaiting' }, items.map((o) => h('li', {},
      h('a', { href: '/orders/' + o.id }, '#' + o.id + ' ' + o.title), ' ',
      h('span', { class: 'counterparty' }, t('dash.with', { name: o.counterparty.name })), ' ',
      statusBadge(o.status), ' ', fmtMoney(o.amount), ' — ',
      o.actions.map((a) => t('action.' + a)).join(', '),
      o.deadline ? [' · ', countdown(o.deadline, o.status === 'delivered' ? 'order.autoConfirm' : (o.status === 'negotiating' ? 'order.proposalExpires' : 'order.due'))] : null,
      o.revisions ? h('div', { class: 'revisions' }, t('dash.revisions') + ': ' + o.revisions + (o.revision_reason ? ' — ' + o.revision_reason : '')) : null)))
      : h('p', {}, t('common.none')));
}

async function homeView() {
  const d = await api('GET', '/v1/dashboard');
  const r = role();
  if (r === 'client') {
    return h('section', { id: 'dashboard-client' }, h('h1', {}, t('nav.home')), balances(d.balances),
      h('p', {}, h('a', { href: '/orders/new', class: 'button' }, t('nav.new'))),
      awaiting(d.awaiting_action), byStatus(d.orders_by_status, 'dash.byStatus'));
  }
  if (r === 'provider') {
    return h('section', { id: 'dashboard-provider' }, h('h1', {}, t('nav.home')), balances(d.balances),
      h('div', { class: 'cards' },
        h('div', { class: 'card stat' }, h('span', {}, t('dash.earnings')), h('strong', { id: 'earnings' }, fmtMoney(d.earnings_released))),
        h('div', { class: 'card stat' }, h('span', {}, t('dash.pendingPayouts')),
          h('strong', {}, fmtMoney(d.pending_payouts.total)), h('small', {}, t('dash.payoutCount', { n: d.pending_payouts.count })))),
      awaiting(d.awaiting_action), byStatus(d.jobs_by_status, 'dash.jobsByStatus'));
  }
  const k = d.kpis;
  const rate = (key) => h('div', { class: 'card stat', id: 'kpi-' + key }, h('span', {}, t('kpi.' + key)),
    h('strong', {}, fmtPercent(k[key].value)), h('small', {}, k[key].numerator + ' ' + t('kpi.of') + ' ' + k[key].denominator));
  return h('section', { id: 'dashboard-admin' }, h('h1', {}, t('nav.home')),
    h('h2', {}, t('dash.kpis')),
    h('div', { class: 'cards' },
      rate('auto_confirmation_rate'), rate('contest_rate'), rate('cancellation_rate'),
      h('div', { class: 'card stat', id: 'kpi-mean_client_response' }, h('span', {}, t('kpi.mean_client_response')),
        h('strong', {}, k.mean_client_response.seconds === null ? '—' : duration(k.mean_client_response.seconds * 1000)),
        h('small', {}, t('kpi.cases', { n: k.mean_client_response.count }))),
      h('div', { class: 'card stat', id: 'kpi-volume' }, h('span', {}, t('kpi.volume')), h('strong', {}, fmtMoney(k.volume))),
      h('div', { class: 'card stat', id: 'kpi-platform_revenue' }, h('span', {}, t('kpi.platform_revenue')), h('strong', {}, fmtMoney(k.platform_revenue))),
      h('div', { class: 'card stat' }, h('span', {}, t('dash.pendingPayouts')), h('strong', {}, fmtMoney(d.pending_payouts.total)),
        h('small', {}, t('dash.payoutCount', { n: d.pending_payouts.count }))),
      rate('settled_by_parties'),
      h('div', { class: 'card stat', id: 'kpi-mean_time_to_settle' }, h('span', {}, t('kpi.mean_time_to_settle')),
        h('strong', {}, k.mean_time_to_settle.seconds === null ? '—' : duration(k.mean_time_to_settle.seconds * 1000)),
        h('small', {}, t('kpi.cases', { n: k.mean_time_to_settle.count })))),
    h('p', { id: 'disputes-negotiating' }, t('dash.negotiating', { n: d.disputes_negotiating })),
    disputeTable(d.dispute_queue),
    byStatus(d.orders_by_status, 'dash.byStatus'));
}

function disputeTable(queue) {
  return h('section', { class: 'card', id: 'dispute-queue' }, h('h2', {}, t('dash.disputeQueue')),
    table([t('common.id'), t('common.title'), t('role.client'), t('role.provider'), t('common.amount'), t('order.contestReason'),
      t('order.evidence'), t('dash.sla')], queue.map((o) => h('tr', {},
      h('td', {}, h('a', { href: '/orders/' + o.id }, '#' + o.id)), h('td', {}, o.title),
      h('td', {}, o.client.name + ' (#' + o.client.id + ')'), h('td', {}, o.provider.name + ' (#' + o.provider.id + ')'),
      h('td', { class: 'num' }, fmtMoney(o.amount)), h('td', {}, o.contest_reason), h('td', { class: 'num' }, String(o.evidence_count)),
      h('td', {}, countdown(o.sla_deadline, 'dash.slaIn'))))));
}

async function disputesView() {
  const d = await api('GET', '/v1/dashboard');
  return h('section', {}, h('h1', {}, t('nav.disputes')), disputeTable(d.dispute_queue));
}

// ---------------------------------------------------------------- orders

async function ordersView() {
  const params = new URLSearchParams(location.search);
  const status = params.get('status') || '';
  const body = h('tbody', {});
  // The other party by name (an admin sees both).
  const parties = { client: ['provider'], provider: ['client'] }[role()] || ['client', 'provider'];
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  let cursor = '';
  const load = async () => {
    const q = new URLSearchParams({ limit: '50' });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', '/v1/orders?' + q);
    for (const o of page.items) {
      body.append(h('tr', {}, h('td', {}, h('a', { href: '/orders/' + o.id }, '#' + o.id)), h('td', {}, o.title),
        parties.map((p) => h('td', { class: 'party' }, o[p + '_name'])),
        h('td', {}, statusBadge(o.status)), h('td', { class: 'num' }, fmtMoney(o.amount)), h('td', {}, fmtDate(o.updated_at))));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 5 + parties.length }, t('common.none'))));
    cursor = page.next_cursor || '';
    more.hidden = !cursor;
  };
  more.addEventListener('click', load);
  await load();
  const filter = h('select', { id: 'status-filter', onchange: (e) => navigate('/orders' + (e.target.value ? '?status=' + e.target.value : '')) },
    h('option', { value: '' }, t('common.all')), STATUSES.map((s) => h('option', { value: s, selected: s === status }, t('status.' + s))));
  return h('section', {}, h('h1', {}, t(role() === 'provider' ? 'nav.jobs' : 'nav.orders')),
    h('div', { class: 'toolbar' }, field(t('common.status'), filter),
      role() === 'client' ? h('a', { href: '/orders/new', class: 'button' }, t('nav.new')) : null),
    h('div', { class: 'table-wrap' }, h('table', { id: 'orders' },
      h('thead', {}, h('tr', {}, [t('common.id'), t('common.title'), ...parties.map((p) => t('role.' + p)), t('common.status'),
        t('common.amount'), t('common.date')]
        .map((x) => h('th', { scope: 'col' }, x)))), body)), more);
}

function newOrderView() {
  const f = h('form', { class: 'card narrow', id: 'new-order', novalidate: true },
    h('h1', {}, t('order.new')),
    providerPicker(),
    field(t('common.title'), h('input', { name: 'title', required: true, maxlength: 200 })),
    field(t('order.description'), h('textarea', { name: 'description', rows: 3, maxlength: 5000 })),
    field(t('common.amount'), h('input', { name: 'amount', inputmode: 'decimal', required: true, placeholder: new Intl.NumberFormat(getLang(), { minimumFractionDigits: 2 }).format('1234.56') })),
    field(t('order.dueDate'), h('input', { name: 'due_date', type: 'datetime-local' })),
    errorBox(),
    h('button', { type: 'submit' }, t('order.create')));
  return onSubmit(f, async (d) => {
    const amount = money.parseInput(d.get('amount'), getLang());
    if (!amount) throw new Error(t('err.amount'));
    if (!d.get('provider_id')) throw new Error(t('dir.pick'));
    const body = { provider_id: String(d.get('provider_id')), title: d.get('title'), description: d.get('description'), amount };
    if (d.get('due_date')) body.due_date = new Date(d.get('due_date')).toISOString();
    const o = await api('POST', '/v1/orders', body, { idempotent: true });
    announce(t('order.created'));
    navigate('/orders/' + o.id);
  });
}

// providerPicker searches the provider directory as the client types and
// keeps the chosen provider's id in a hidden provider_id field.
function providerPicker() {
  const chosen = h('input', { type: 'hidden', name: 'provider_id' });
  const picked = h('p', { id: 'provider-chosen', 'aria-live': 'polite' }, t('dir.none'));
  const list = h('ul', { id: 'provider-results', class: 'list' });
  const search = h('input', { type: 'search', id: 'provider-search', autocomplete: 'off', maxlength: 100,
    'aria-controls': 'provider-results' });
  const day = dateFormat({ dateStyle: 'medium' });
  let seq = 0;
  let timer = null;
  const load = async () => {
    const mine = ++seq;
    const q = new URLSearchParams({ limit: '10' });
    if (search.value.trim()) q.set('q', search.value.trim());
    let items;
    try { items = (await api('GET', '/v1/providers?' + q)).items; } catch (err) { items = err; }
    if (mine !== seq) return; // a later search answers instead
    list.textContent = '';
    if (!Array.isArray(items)) return list.append(h('li', { class: 'error', role: 'alert' }, errorText(items)));
    if (!items.length) list.append(h('li', {}, t('dir.noMatch')));
    for (const p of items) {
      list.append(h('li', {}, h('button', { type: 'button', class: 'link', 'data-provider': p.id,
        onclick: () => { chosen.value = p.id; picked.textContent = t('dir.chosen', { name: p.name }); } }, p.name), ' ',
      h('small', { class: 'hint' }, t('dir.stats', { n: p.completed_orders, d: day.format(new Date(p.member_since)) }))));
    }
  };
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 250); });
  load();
  return [field(t('dir.search'), search, t('dir.hint')), list, picked, chosen];
}

// ---------------------------------------------------------------- wallet

async function walletView() {
  const isProvider = role() === 'provider';
  // Clients and providers alike withdraw their available balance.
  const [w, tx, payouts] = await Promise.all([api('GET', '/v1/wallet'), api('GET', '/v1/wallet/transactions?limit=100'),
    api('GET', '/v1/wallet/payouts?limit=100')]);
  const rows = tx.items.map((e) => h('tr', {}, h('td', {}, fmtDate(e.created_at)), h('td', {}, t('wallet.' + e.account)),
    h('td', {}, t('kind.' + e.kind)), h('td', {}, e.order_id ? h('a', { href: '/orders/' + e.order_id }, '#' + e.order_id) : ''),
    h('td', { class: 'num ' + (e.amount.startsWith('-') ? 'neg' : 'pos') }, fmtMoney(e.amount)),
    h('td', { class: 'num' }, fmtMoney(e.balance_after))));
  const f = h('form', { class: 'card inline', id: 'payout-form', novalidate: true }, h('h2', {}, t('payout.request')),
    field(t('common.amount'), h('input', { name: 'amount', inputmode: 'decimal', required: true, value: money.format(w.available, getLang(), state.meta.currency).replace(/[^\d.,]/g, '') })),
    errorBox(), h('button', { type: 'submit' }, t('payout.request')));
  onSubmit(f, async (d) => {
    const amount = money.parseInput(d.get('amount'), getLang());
    if (!amount) throw new Error(t('err.amount'));
    await api('POST', '/v1/wallet/payouts', { amount }, { idempotent: true });
    announce(t('payout.requested'));
    render();
  });
  const parts = [h('h1', {}, t(isProvider ? 'nav.earnings' : 'nav.wallet')), balances(w), f,
    h('section', { class: 'card' }, h('h2', {}, t('payout.list')),
      table([t('common.date'), t('common.amount'), t('common.status')], payouts.items.map((p) => h('tr', {},
        h('td', {}, fmtDate(p.created_at)), h('td', { class: 'num' }, fmtMoney(p.amount)), h('td', {}, t('payout.' + p.status))))))];
  parts.push(h('section', { class: 'card' }, h('h2', {}, t('wallet.statement')),
    table([t('common.date'), t('wallet.account'), t('wallet.kind'), t('common.id'), t('common.amount'), t('wallet.balanceAfter')], rows)));
  return h('section', { id: 'wallet' }, parts);
}

// ---------------------------------------------------------------- inbox

// inboxView lists the user's notifications, newest first; each unread one
// can be marked read, or all at once.
async function inboxView() {
  const list = h('ul', { id: 'inbox', class: 'inbox' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  const box = errorBox();
  let cursor = '';
  const item = (n) => {
    const li = h('li', { 'data-notification': n.id, class: n.read ? 'read' : 'unread' },
      h('strong', {}, n.title), ' ', h('time', { datetime: n.created_at }, fmtDate(n.created_at)),
      h('p', {}, n.body), n.order_id ? h('a', { href: '/orders/' + n.order_id }, t('inbox.order', { id: n.order_id })) : null);
    if (!n.read) {
      const b = h('button', { type: 'button', class: 'link', 'data-read': n.id }, t('inbox.markRead'));
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api('POST', '/v1/notifications/' + n.id + '/read');
          li.className = 'read';
          b.remove();
          refreshUnread();
        } catch (err) { box.textContent = errorText(err); b.disabled = false; }
      });
      li.append(' ', b);
    }
    return li;
  };
  const load = async () => {
    const page = await api('GET', '/v1/notifications?limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    page.items.forEach((n) => list.append(item(n)));
    if (!list.children.length) list.append(h('li', {}, t('common.none')));
    cursor = page.next_cursor || '';
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => load().catch((err) => { box.textContent = errorText(err); }));
  await load();
  const all = h('button', { type: 'button', id: 'read-all' }, t('inbox.readAll'));
  all.addEventListener('click', async () => {
    all.disabled = true;
    try {
      await api('POST', '/v1/notifications/read-all');
      announce(t('inbox.allRead'));
      render();
    } catch (err) { box.textContent = errorText(err); all.disabled = false; }
  });
  return h('section', {}, h('h1', {}, t('nav.inbox')), h('div', { class: 'toolbar' }, all), box, list, more);
}

// ---------------------------------------------------------------- settings

// settingsView edits the user's language and time zone: the texts Ordem
// sends them (notifications, e-mails) follow these, not the browser.
async function settingsView() {
  const me = await api('GET', '/v1/me');
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const f = h('form', { class: 'card narrow', id: 'settings-form', novalidate: true },
    h('h1', {}, t('nav.settings')),
    field(t('settings.locale'), h('select', { name: 'locale' },
      languages.map(([code, name]) => h('option', { value: code, selected: code === me.locale }, name)))),
    field(t('settings.timeZone'), h('input', { name: 'time_zone', value: me.time_zone, list: 'zones', autocomplete: 'off' }),
      t('settings.timeZoneHint')),
    h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
    errorBox(), h('button', { type: 'submit' }, t('common.save')));
  return onSubmit(f, async (d) => {
    const u = await api('PATCH', '/v1/me', { locale: d.get('locale'), time_zone: String(d.get('time_zone')).trim() });
    const s = getSession();
    setSession({ ...s, user: u });
    // The console speaks the language chosen for the texts too.
    setLang(u.locale);
    announce(t('settings.saved'));
    render();
  });
}

// ---------------------------------------------------------------- admin

async function configView() {
  const { items } = await api('GET', '/v1/admin/config');
  return h('section', {}, h('h1', {}, t('nav.config')), h('div', { class: 'stack' }, items.map((c) => {
    const f = h('form', { class: 'card config', 'data-key': c.key, novalidate: true },
      h('h2', {}, h('code', {}, c.key)), h('p', { class: 'hint' }, c.description + ' (' + t('config.default') + ': ' + c.default + ')'),
      h('div', { class: 'row' },
        field(t('config.value'), h('input', { name: 'value', value: c.value, required: true, inputmode: 'decimal' })),
        field(t('common.reason'), h('input', { name: 'reason', required: true }))),
      errorBox(), h('button', { type: 'submit' }, t('common.save')),
      c.updated_at ? h('small', { class: 'hint' }, ' ' + fmtDate(c.updated_at)) : null);
    return onSubmit(f, async (d) => {
      await api('PUT', '/v1/admin/config/' + encodeURIComponent(c.key), { value: String(d.get('value')).trim(), reason: d.get('reason') });
      announce(t('config.saved'));
      render();
    });
  })));
}

async function usersView() {
  const params = new URLSearchParams(location.search);
  const r = params.get('role') || '';
  const page = await api('GET', '/v1/admin/users?limit=100' + (r ? '&role=' + r : ''));
  const filter = h('select', { id: 'role-filter', onchange: (e) => navigate('/admin/users' + (e.target.value ? '?role=' + e.target.value : '')) },
    h('option', { value: '' }, t('common.all')), ['client', 'provider', 'admin'].map((x) => h('option', { value: x, selected: x === r }, t('role.' + x))));
  const me = getSession().user.id;
  const rows = page.items.map((u) => {
    const rowAttrs = { 'data-user': u.id };
    let cell;
    if (u.deleted_at) cell = h('span', {}, t('users.deleted', { d: fmtDate(u.deleted_at) }));
    else if (u.id === me) cell = h('a', { href: '/account' }, t('nav.account'));
    else {
      const f = h('form', { class: 'inline', novalidate: true },
        h('label', { class: 'sr-only', for: 'reason-' + u.id }, t('common.reason')),
        h('input', { id: 'reason-' + u.id, name: 'reason', placeholder: t('common.reason'), required: true, maxlength: 2000 }),
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'cancel_open_orders' }), ' ' + t('users.cancelOpen')),
        h('button', { type: 'submit', class: 'danger' }, t('users.delete')), errorBox(),
        h('a', { href: '/admin/users/' + u.id + '/password-reset', class: 'reset-password' }, t('reset.issue')));
      cell = onSubmit(f, async (d) => {
        if (!confirm(t('users.confirmDelete', { name: u.name }))) return;
        // A user with open orders is refused (has_open_orders lists them)
        // unless the box asks to cancel them, with full refunds.
        await api('DELETE', '/v1/admin/users/' + u.id, { reason: d.get('reason'),
          cancel_open_orders: d.get('cancel_open_orders') === 'on' });
        announce(t('common.done'));
        render();
      });
    }
    return h('tr', rowAttrs, h('td', {}, '#' + u.id), h('td', {}, u.name), h('td', {}, u.email), h('td', {}, t('role.' + u.role)),
      h('td', {}, fmtDate(u.created_at)), h('td', {}, cell));
  });
  return h('section', {}, h('h1', {}, t('nav.users')), h('div', { class: 'toolbar' }, field(t('common.role'), filter)),
    table([t('common.id'), t('auth.name'), t('auth.email'), t('common.role'), t('common.date'), t('common.actions')], rows));
}

async function depositsView() {
  const page = await api('GET', '/v1/admin/deposits?limit=100');
  const f = h('form', { class: 'card', id: 'deposit-form', novalidate: true }, h('h2', {}, t('deposit.new')),
    h('div', { class: 'row' },
      field(t('deposit.user'), h('input', { name: 'user_id', inputmode: 'numeric', required: true })),
      field(t('common.amount'), h('input', { name: 'amount', inputmode: 'decimal', required: true })),
      field(t('deposit.reference'), h('input', { name: 'reference', required: true })),
      field(t('common.reason'), h('input', { name: 'reason', required: true, maxlength: 2000 }))),
    errorBox(), h('button', { type: 'submit' }, t('deposit.new')));
  onSubmit(f, async (d) => {
    const amount = money.parseInput(d.get('amount'), getLang());
    if (!amount) throw new Error(t('err.amount'));
    await api('POST', '/v1/admin/deposits', { user_id: String(d.get('user_id')).trim(), amount, reference: d.get('reference'),
      reason: d.get('reason') }, { idempotent: true });
    announce(t('deposit.done', { amount: fmtMoney(amount) }));
    render();
  });
  return h('section', {}, h('h1', {}, t('nav.deposits')), f,
    table([t('common.date'), t('common.user'), t('common.amount'), t('deposit.reference'), t('deposit.source')],
      page.items.map((x) => h('tr', {}, h('td', {}, fmtDate(x.created_at)), h('td', {}, '#' + x.user_id),
        h('td', { class: 'num' }, fmtMoney(x.amount)), h('td', {}, x.reference), h('td', {}, x.source)))));
}

async function payoutsView() {
  const params = new URLSearchParams(location.search);
  const status = params.get('status') ?? 'pending';
  const page = await api('GET', '/v1/admin/payouts?limit=100' + (status ? '&status=' + status : ''));
  const filter = h('select', { id: 'payout-filter', onchange: (e) => navigate('/admin/payouts?status=' + e.target.value) },
    h('option', { value: '' }, t('common.all')),
    ['pending', 'paid', 'failed'].map((x) => h('option', { value: x, selected: x === status }, t('payout.' + x))));
  const rows = page.items.map((p) => {
    let cell = '';
    if (p.status === 'pending') {
      const f = h('form', { class: 'inline', novalidate: true },
        h('label', { class: 'sr-only', for: 'ref-' + p.id }, t('payout.gatewayRef')),
        h('input', { id: 'ref-' + p.id, name: 'ref', placeholder: t('payout.gatewayRef') }),
        h('label', { class: 'sr-only', for: 'payout-reason-' + p.id }, t('common.reason')),
        h('input', { id: 'payout-reason-' + p.id, name: 'reason', placeholder: t('common.reason'), required: true, maxlength: 2000 }),
        h('button', { type: 'submit', name: 'paid' }, t('payout.markPaid')),
        h('button', { type: 'submit', name: 'failed', class: 'secondary' }, t('payout.markFailed')), errorBox());
      cell = onSubmit(f, async (d, submitter) => {
        const failed = submitter && submitter.name === 'failed';
        await api('POST', '/v1/admin/payouts/' + p.id + (failed ? '/mark-failed' : '/mark-paid'),
          failed ? { reason: d.get('reason') } : { gateway_ref: d.get('ref'), reason: d.get('reason') }, { idempotent: true });
        announce(t('common.done'));
        render();
      });
    }
    return h('tr', { 'data-user': p.user_id }, h('td', {}, '#' + p.id), h('td', {}, '#' + p.user_id), h('td', { class: 'num' }, fmtMoney(p.amount)),
      h('td', {}, t('payout.' + p.status)), h('td', {}, fmtDate(p.created_at)), h('td', {}, cell));
  });
  return h('section', {}, h('h1', {}, t('nav.payouts')), h('div', { class: 'toolbar' }, field(t('common.status'), filter)),
    table([t('common.id'), t('common.user'), t('common.amount'), t('common.status'), t('common.date'), t('common.actions')], rows));
}

// ---------------------------------------------------------------- audit log

const AUDIT_FILTERS = ['actor_id', 'action', 'object_type', 'object_id', 'from', 'to'];

// auditView lists the audit log, newest first, filtered by the query
// string (the API's own filters), a page at a time.
async function auditView() {
  const params = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const k of AUDIT_FILTERS) {
    const v = params.get(k);
    if (!v) continue;
    // datetime-local inputs give local time without a zone: sent as an instant.
    query.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v);
  }
  query.set('limit', '50');
  const filters = h('form', { class: 'card', id: 'audit-filters', novalidate: true },
    h('div', { class: 'row' },
      field(t('audit.actor'), h('input', { name: 'actor_id', inputmode: 'numeric', value: params.get('actor_id') || '' })),
      field(t('audit.action'), h('input', { name: 'action', value: params.get('action') || '' })),
      field(t('audit.objectType'), h('input', { name: 'object_type', value: params.get('object_type') || '' })),
      field(t('audit.objectId'), h('input', { name: 'object_id', value: params.get('object_id') || '' })),
      field(t('audit.from'), h('input', { type: 'datetime-local', name: 'from', value: params.get('from') || '' })),
      field(t('audit.to'), h('input', { type: 'datetime-local', name: 'to', value: params.get('to') || '' }))),
    errorBox(), h('button', { type: 'submit' }, t('audit.filter')));
  onSubmit(filters, async (d) => {
    const q = new URLSearchParams();
    for (const k of AUDIT_FILTERS) { const v = String(d.get(k) || '').trim(); if (v) q.set(k, v); }
    navigate('/admin/audit' + (q.toString() ? '?' + q : ''));
  });
  const page = await api('GET', '/v1/admin/audit?' + query);
  const json = (v) => (v === null || v === undefined ? '' : JSON.stringify(v));
  const row = (e) => h('tr', { 'data-audit': e.id },
    h('td', {}, fmtDate(e.created_at)),
    h('td', {}, e.actor_id ? '#' + e.actor_id + ' (' + e.actor_role + ')' : e.actor_role || t('audit.system')),
    h('td', {}, h('code', {}, e.action)),
    h('td', {}, e.object_type === 'order' ? h('a', { href: '/orders/' + e.object_id }, 'order #' + e.object_id) : e.object_type + ' ' + e.object_id),
    h('td', { class: 'audit-reason' }, e.reason),
    h('td', {}, h('code', { class: 'audit-change' }, [json(e.before), e.before || e.after ? ' → ' : '', json(e.after)].join(''))),
    h('td', {}, h('small', {}, e.request_id)));
  const body = h('tbody', {}, page.items.map(row));
  const tbl = table([t('common.date'), t('audit.actor'), t('audit.action'), t('audit.object'), t('common.reason'),
    t('audit.change'), t('audit.request')], []);
  tbl.querySelector('tbody')?.replaceWith(body);
  let next = page.next_cursor;
  const more = h('button', { type: 'button', id: 'audit-more', class: 'secondary', hidden: !next, onclick: async () => {
    query.set('cursor', next);
    const p = await api('GET', '/v1/admin/audit?' + query);
    body.append(...p.items.map(row));
    next = p.next_cursor;
    more.hidden = !next;
  } }, t('common.more'));
  return h('section', { id: 'audit' }, h('h1', {}, t('nav.audit')), filters,
    page.items.length ? tbl : h('p', { class: 'hint' }, t('common.none')), more);
}

// ---------------------------------------------------------------- start

async function start() {
  try { state.meta = await api('GET', '/v1/meta'); } catch { /* defaults */ }
  render();
}
start();

// ---------------------------------------------------------------- accounts: passwords and sessions

// accountView: change one's password (the other sessions end) and the
// list of one's live sessions, each revocable.
async function accountView() {
  const page = await api('GET', '/v1/me/sessions?limit=100');
  const pw = h('form', { class: 'card narrow', id: 'password-form', novalidate: true },
    h('h2', {}, t('account.changePassword')),
    field(t('account.current'), h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true })),
    field(t('account.new'), h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true, minlength: 8 }),
      t('account.rules')),
    errorBox(), h('button', { type: 'submit' }, t('account.changePassword')));
  onSubmit(pw, async (d) => {
    const r = await api('POST', '/v1/me/password', { current_password: d.get('current_password'), new_password: d.get('new_password') });
    await render();
    announce(t('account.changed', { n: r.revoked_sessions }));
  });
  const rows = page.items.map((x) => {
    let cell;
    if (x.current) cell = h('strong', {}, t('account.thisSession'));
    else {
      const f = h('form', { class: 'inline', novalidate: true }, h('button', { type: 'submit', class: 'danger' }, t('account.revoke')), errorBox());
      cell = onSubmit(f, async () => {
        await api('DELETE', '/v1/me/sessions/' + x.id);
        await render();
        announce(t('common.done'));
      });
    }
    return h('tr', { 'data-session': x.id, class: x.current ? 'current' : null }, h('td', {}, fmtDate(x.created_at)),
      h('td', {}, fmtDate(x.last_seen_at)), h('td', {}, fmtDate(x.expires_at)), h('td', {}, x.user_agent || '—'),
      h('td', {}, x.ip || '—'), h('td', {}, cell));
  });
  const others = h('form', { id: 'revoke-others', novalidate: true },
    h('button', { type: 'submit', class: 'danger', disabled: page.items.length < 2 }, t('account.revokeOthers')), errorBox());
  onSubmit(others, async () => {
    const r = await api('POST', '/v1/me/sessions/revoke-others');
    await render();
    announce(t('account.revoked', { n: r.revoked }));
  });
  return h('section', {}, h('h1', {}, t('nav.account')), pw,
    h('section', { class: 'card', id: 'sessions' }, h('h2', {}, t('account.sessions')),
      table([t('account.created'), t('account.lastSeen'), t('account.expires'), t('account.agent'), t('account.ip'), t('common.actions')], rows),
      others));
}

// resetPasswordView consumes a reset code an admin issued (also reached
// from the e-mail). The code may come in the address (?token=) to be
// pasted less; it is taken out of the address at once.
function resetPasswordView() {
  const params = new URLSearchParams(location.search);
  const given = params.get('token') || '';
  if (given) history.replaceState(null, '', '/reset-password');
  const f = h('form', { class: 'card narrow', id: 'reset-form', novalidate: true },
    h('h1', {}, t('reset.title')),
    h('p', {}, t('reset.intro')),
    field(t('reset.token'), h('input', { name: 'token', autocomplete: 'one-time-code', required: true, value: given })),
    field(t('account.new'), h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true, minlength: 8 }),
      t('account.rules')),
    errorBox(), h('button', { type: 'submit' }, t('reset.submit')),
    h('p', {}, h('a', { href: '/login' }, t('auth.login'))));
  return onSubmit(f, async (d) => {
    await api('POST', '/v1/auth/password-reset', { token: (d.get('token') || '').trim(), new_password: d.get('new_password') });
    // Every session of the account ended, this browser's too.
    setSession(null);
    navigate('/login');
    announce(t('reset.done'));
  });
}

// adminResetView: the admin issues a reset for a user, with a reason; the
// code is shown here once (and e-mailed to the user).
async function adminResetView(m) {
  const page = await api('GET', '/v1/admin/users?limit=100');
  const u = page.items.find((x) => x.id === m[1]);
  const who = u ? u.name + ' <' + u.email + '>' : '#' + m[1];
  const out = h('div', { id: 'reset-token', hidden: true });
  const f = h('form', { class: 'card narrow', id: 'issue-reset', novalidate: true },
    h('p', {}, t('reset.issueIntro', { who })),
    field(t('common.reason'), h('input', { name: 'reason', required: true })),
    errorBox(), h('button', { type: 'submit', class: 'danger' }, t('reset.issue')));
  onSubmit(f, async (d) => {
    const r = await api('POST', '/v1/admin/users/' + m[1] + '/password-reset', { reason: d.get('reason') || '' });
    out.textContent = '';
    out.append(h('p', {}, t('reset.shownOnce', { d: fmtDate(r.expires_at) })), h('code', { class: 'token' }, r.token));
    out.hidden = false;
    f.querySelector('input[name=reason]').value = '';
    announce(t('common.done'));
  });
  return h('section', {}, h('h1', {}, t('reset.issueTitle')), f, h('section', { class: 'card' }, out),
    h('p', {}, h('a', { href: '/admin/users' }, t('nav.users'))));
}
