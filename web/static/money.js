// Money as the API sends it: decimal strings with two places ("1234.56").
// Arithmetic is done on integer cents (BigInt), never on floats; display
// goes through Intl.NumberFormat, which formats the decimal string itself.

const AMOUNT = /^-?\d+(\.\d{1,2})?$/;

// toCents parses an API amount ("1234.56", "-10.00") to BigInt cents.
export function toCents(s) {
  s = String(s).trim();
  if (!AMOUNT.test(s)) throw new Error('not an amount: ' + s);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  const [whole, frac = ''] = s.split('.');
  const c = BigInt(whole) * 100n + BigInt((frac + '00').slice(0, 2));
  return neg ? -c : c;
}

// fromCents writes BigInt cents as the API's decimal string.
export function fromCents(c) {
  const neg = c < 0n;
  if (neg) c = -c;
  const s = c.toString().padStart(3, '0');
  return (neg ? '-' : '') + s.slice(0, -2) + '.' + s.slice(-2);
}

// parseInput reads what a person typed into the API's decimal string, or
// null when it is not an amount. With both separators, the last one is
// the decimal point ("1.234,56", "1,234.56"); with one kind only, it is
// grouping when it splits thousands the way the locale groups them
// ("1.234" in pt-BR, "1,234" in English) and the decimal point otherwise.
export function parseInput(text, locale = 'pt-BR') {
  let s = String(text).replace(/\s|R\$/g, '');
  const comma = s.lastIndexOf(','), dot = s.lastIndexOf('.');
  const group = locale.startsWith('pt') ? '.' : ',';
  if (comma >= 0 && dot >= 0) {
    s = comma > dot ? s.replace(/\./g, '').replace(',', '.') : s.replace(/,/g, '');
  } else if (comma >= 0 || dot >= 0) {
    const sep = comma >= 0 ? ',' : '.';
    const thousands = new RegExp('^\\d{1,3}(\\' + sep + '\\d{3})+$');
    if (sep === group && thousands.test(s)) s = s.split(sep).join('');
    else if (sep === ',') s = s.replace(',', '.');
  }
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return null;
  return fromCents(toCents(s));
}

// percentOf returns pct% of cents, rounded half-up to the cent, like the
// server's money.Percent. pct is a decimal string with up to 4 places.
export function percentOf(cents, pct) {
  const m = /^(\d+)(?:\.(\d{1,4}))?$/.exec(String(pct).trim());
  if (!m) throw new Error('not a percentage: ' + pct);
  const scaled = BigInt(m[1]) * 10000n + BigInt(((m[2] || '') + '0000').slice(0, 4));
  // cents * pct / 100, with pct scaled by 10^4: divide by 10^6, half-up.
  const num = cents * scaled;
  const q = num / 1000000n;
  const r = num % 1000000n;
  return r * 2n >= 1000000n ? q + 1n : q;
}

// resolution previews an admin ruling exactly as the server computes it
// (internal/money.Resolve): the client gets the refund back (plus the
// contestation fee when the refund is positive); the provider gets the
// rest minus the platform fee on that rest.
export function resolution(amount, refund, feePct, contestFee) {
  const a = toCents(amount), r = toCents(refund), cf = toCents(contestFee);
  if (r < 0n || r > a) return null;
  const release = a - r;
  const fee = percentOf(release, feePct);
  const toClient = r + (r > 0n ? cf : 0n);
  const toPlatform = fee + (r > 0n ? 0n : cf);
  return { refund: fromCents(r), toClient: fromCents(toClient), providerShare: fromCents(release - fee),
    platformFee: fromCents(fee), toPlatform: fromCents(toPlatform), contestFeeReturned: r > 0n };
}

// format shows an API amount in the locale and currency.
export function format(amount, locale, currency) {
  if (amount === undefined || amount === null || amount === '') return '—';
  return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(String(amount));
}
