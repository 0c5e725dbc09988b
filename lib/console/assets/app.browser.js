// riskhook review console: plain DOM, every value set with textContent (never innerHTML), talking
// only to the /v1 API with the analyst's bearer token, which stays in this tab's sessionStorage.
'use strict';
(() => {
  const TOKEN_KEY = 'riskhook.token';
  const $ = (id) => document.getElementById(id);
  const state = { status: 'open', provider: '', since: '', cursor: null, current: null, pending: null, chart: null };

  /** An element with attributes and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'onclick') el.addEventListener('click', v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return el;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'unreachable', 'The riskhook API is unreachable (network error). Check that it is running, then try again.');
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: a proxy or gateway page
    }
    if (response.ok) return json;
    const code = json && json.error ? json.error.code : `http_${response.status}`;
    const detail = json && json.error ? json.error.message : text.slice(0, 200);
    if (response.status === 401) throw new ApiError(401, code, 'The token was refused (401): it is wrong, revoked or missing. Sign in again.');
    if (response.status === 403) throw new ApiError(403, code, `Your token lacks the scope for this (403): ${detail}`);
    if (response.status >= 502 && response.status <= 504) throw new ApiError(response.status, code, `The riskhook API is unreachable (${response.status}). Try again shortly.`);
    throw new ApiError(response.status, code, `${response.status} ${code}: ${detail}`);
  }

  function show(message, kind) {
    const box = $('message');
    box.textContent = message;
    box.className = kind || 'error';
    box.hidden = false;
  }
  const clearMessage = () => {
    $('message').hidden = true;
    $('message').textContent = '';
  };
  /** Runs an action, showing its failure; a 401 signs out. */
  async function guarded(fn) {
    try {
      return await fn();
    } catch (error) {
      show(error.message || String(error), 'error');
      if (error instanceof ApiError && error.status === 401) signOut(false);
      return undefined;
    }
  }

  // ---- formatting ----
  function money(amount) {
    if (!amount) return '';
    const digits = { JPY: 0, KRW: 0 }[amount.currency] ?? 2;
    return `${(amount.minor / 10 ** digits).toFixed(digits)} ${amount.currency}`;
  }
  function age(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} d`;
  }
  const reference = (ref) => (ref ? [ref.orderId && `order ${ref.orderId}`, ref.transactionId && `txn ${ref.transactionId}`].filter(Boolean).join(' · ') : '');
  const reviewPath = (r) => `/v1/reviews/${encodeURIComponent(r.provider)}/${encodeURIComponent(r.eventId)}`;

  // ---- sign in ----
  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    const ok = await guarded(async () => {
      await api('GET', '/v1/reviews?limit=1');
      return true;
    });
    if (!ok) {
      sessionStorage.removeItem(TOKEN_KEY);
      return;
    }
    clearMessage();
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    await loadQueue(true);
  }
  function signOut(clear = true) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('token').value = '';
    if (clear) clearMessage();
  }

  // ---- queue ----
  async function loadQueue(reset) {
    if (reset) {
      state.cursor = null;
      $('queue').tBodies[0].replaceChildren();
    }
    const q = new URLSearchParams({ status: state.status, limit: '50' });
    if (state.provider) q.set('provider', state.provider);
    if (state.cursor) q.set('cursor', state.cursor);
    const page = await guarded(() => api('GET', `/v1/reviews?${q}`));
    if (!page) return;
    const since = state.since ? Date.now() - Number(state.since) * 3600_000 : 0;
    const body = $('queue').tBodies[0];
    for (const r of page.data) {
      if (Date.parse(r.openedAt) < since) continue;
      const d = r.decision;
      const open = h('button', { type: 'button', class: 'link', 'data-event': r.eventId, text: reference(r.reference) || r.eventId });
      open.addEventListener('click', () => openReview(r.provider, r.eventId));
      body.append(
        h(
          'tr',
          {},
          h('td', { text: r.provider }),
          h('td', { class: 'num', text: money(d.amount) }),
          h('td', {}, open),
          h('td', { text: age(r.openedAt), title: r.openedAt }),
          h('td', { class: 'num', text: d.score }),
          h('td', { text: d.reasons.map((x) => x.rule).join(', ') + (d.degraded ? ` (degraded: ${d.degraded})` : '') }),
          h('td', { text: r.status }),
        ),
      );
    }
    state.cursor = page.nextCursor;
    $('more').hidden = !page.nextCursor;
    const label = { open: 'Open holds, oldest first', released: 'Released, newest first', confirmed_fraud: 'Confirmed fraud, newest first' }[state.status];
    $('queue-caption').textContent = `${label}${state.provider ? ` (${state.provider})` : ''}: ${body.rows.length} shown`;
    if (body.rows.length === 0) body.append(h('tr', {}, h('td', { colspan: 7, text: 'Nothing here.' })));
  }

  // ---- a hold ----
  async function openReview(provider, eventId) {
    const review = await guarded(() => api('GET', `/v1/reviews/${encodeURIComponent(provider)}/${encodeURIComponent(eventId)}`));
    if (!review) return;
    state.current = review;
    const d = review.decision;
    $('detail-title').textContent = `Hold ${review.provider} ${review.eventId}`;
    const facts = [
      ['Status', review.status],
      ['Provider', review.provider],
      ['Amount', money(d.amount)],
      ['Reference', reference(review.reference)],
      ['Score', String(d.score)],
      ['Kind', d.kind || ''],
      ['Occurred', d.occurredAt || ''],
      ['Received', d.receivedAt || ''],
      ['Opened', review.openedAt],
      ['Closed', review.closedAt || ''],
      ['Note', review.note || ''],
      ['Degraded', d.degraded ? String(d.degraded) : 'no'],
      ['Policy', d.policyVersion],
    ];
    $('detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
    $('detail-reasons').replaceChildren(...d.reasons.map((r) => h('li', {}, h('strong', { text: r.rule }), `: ${r.message}`)));
    $('detail-features').tBodies[0].replaceChildren(
      ...Object.entries(d.features || {}).map(([k, v]) => h('tr', {}, h('th', { scope: 'row', text: k }), h('td', { text: String(v) }))),
    );
    $('actions').hidden = review.status !== 'open';
    $('confirm').hidden = true;
    $('release-note').value = '';
    $('release-trust').value = '';
    $('fraud-note').value = '';
    const defaults = ['account', 'linkedAccount', 'device', 'instrument'];
    $('block-kinds').replaceChildren(
      ...['account', 'linkedAccount', 'device', 'instrument', 'ip', 'merchant'].map((k) =>
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'block', value: k, checked: defaults.includes(k) }), ` ${k}`),
      ),
    );
    $('detail').hidden = false;
    $('detail').focus();
    await Promise.all([loadDeliveries(review), loadAudit(review)]);
  }

  async function loadDeliveries(review) {
    const list = $('detail-deliveries');
    const answer = await guarded(() => api('GET', `${reviewPath(review)}/deliveries`));
    if (!answer) return list.replaceChildren(h('li', { text: 'Could not read the deliveries.' }));
    if (!answer.configured) return list.replaceChildren(h('li', { text: 'Merchant webhooks are not configured (MERCHANT_WEBHOOK_URL).' }));
    list.replaceChildren(
      ...answer.data.map((x) => {
        const detail = x.state === 'delivered' ? 'delivered' : `${x.state}, ${x.attempts} attempt(s)${x.lastError ? `, last: ${x.lastError}` : ''}`;
        return h('li', { 'data-type': x.type, 'data-state': x.state }, h('strong', { text: x.type }), `: ${detail} (webhook-id ${x.webhookId})`);
      }),
    );
  }

  async function loadAudit(review) {
    const list = $('detail-audit');
    const q = new URLSearchParams({ target: `review/${review.provider}/${review.eventId}`, from: review.openedAt, limit: '50' });
    let answer;
    try {
      answer = await api('GET', `/v1/audit?${q}`);
    } catch (error) {
      const text = error instanceof ApiError && error.status === 403 ? 'Your token lacks audit:read, so the audit history is hidden.' : error.message;
      return list.replaceChildren(h('li', { text }));
    }
    if (answer.data.length === 0) return list.replaceChildren(h('li', { text: 'No audit entries yet (the review is open).' }));
    list.replaceChildren(...answer.data.map((e) => h('li', { 'data-action': e.action, text: `${e.at}  ${e.action} by ${e.actor}${e.after && e.after.note ? `: ${e.after.note}` : ''}` })));
  }

  // ---- release / confirm fraud, each behind a confirmation step ----
  function ask(text, run) {
    state.pending = run;
    $('confirm-text').textContent = text;
    $('confirm').hidden = false;
    $('confirm-yes').focus();
  }
  async function confirmPending() {
    const run = state.pending;
    state.pending = null;
    $('confirm').hidden = true;
    if (run) await run();
  }

  function onRelease(event) {
    event.preventDefault();
    const review = state.current;
    const note = $('release-note').value.trim();
    const days = $('release-trust').value.trim();
    const body = { note: note || null, ...(days && { trustDays: Number(days) }) };
    ask(`Release ${review.provider} ${review.eventId}${days ? ` and trust the account for ${days} days` : ''}?`, () => close(review, 'release', body));
  }
  function onFraud(event) {
    event.preventDefault();
    const review = state.current;
    const kinds = [...document.querySelectorAll('#block-kinds input:checked')].map((i) => i.value);
    const days = Number($('block-days').value || 180);
    const body = { note: $('fraud-note').value.trim() || null, block: kinds.length ? { entities: kinds, ttlDays: days } : false };
    ask(
      `Confirm ${review.provider} ${review.eventId} as fraud and block ${kinds.length ? `${kinds.join(', ')} for ${days} days` : 'nothing'}?`,
      () => close(review, 'confirm-fraud', body),
    );
  }
  async function close(review, action, body) {
    const closed = await guarded(() => api('POST', `${reviewPath(review)}/${action}`, body));
    if (!closed) return;
    show(`${review.provider} ${review.eventId}: ${closed.status.replace('_', ' ')}.`, 'ok');
    await openReview(review.provider, review.eventId);
    await loadQueue(true);
  }

  // ---- lists ----
  const listBase = () => `/v1/lists/${$('l-list').value}/${$('l-kind').value}`;
  async function loadList() {
    const page = await guarded(() => api('GET', `${listBase()}?limit=100`));
    if (!page) return;
    const body = $('list-entries').tBodies[0];
    body.replaceChildren(
      ...page.data.map((e) => {
        const path = `${listBase()}/${encodeURIComponent(e.id)}?idType=hash`;
        const expire = h('button', { type: 'button', text: 'Expire in 1 h', 'aria-label': `Expire entry ${e.id.slice(0, 12)} in one hour` });
        expire.addEventListener('click', () => guarded(async () => (await api('PUT', path, { ttlDays: 1 / 24, note: e.note })) && loadList()));
        const remove = h('button', { type: 'button', text: 'Remove', 'aria-label': `Remove entry ${e.id.slice(0, 12)}` });
        remove.addEventListener('click', () => ask(`Remove ${e.entityKind} ${e.id.slice(0, 12)}… from the ${e.list} list?`, () => guarded(async () => (await api('DELETE', path)) && loadList())));
        const source = e.source && e.source.type === 'review' ? `review ${e.source.provider} ${e.source.eventId}` : (e.source && e.source.type) || '';
        return h('tr', {}, h('td', { class: 'hash', text: e.id }), h('td', { text: e.expiresAt }), h('td', { text: e.note || '' }), h('td', { text: `${source} by ${e.createdBy}` }), h('td', {}, expire, remove));
      }),
    );
    if (page.data.length === 0) body.append(h('tr', {}, h('td', { colspan: 5, text: 'No entries.' })));
  }
  async function addEntry(event) {
    event.preventDefault();
    const id = $('a-id').value.trim();
    const days = Number($('a-days').value);
    const note = $('a-note').value.trim() || null;
    const saved = await guarded(() => api('PUT', `${listBase()}/${encodeURIComponent(id)}`, { ttlDays: days, note }));
    if (!saved) return;
    $('a-id').value = '';
    show(`Saved: ${saved.list} ${saved.entityKind} (hash ${saved.id.slice(0, 12)}…) until ${saved.expiresAt}.`, 'ok');
    await loadList();
  }

  // ---- chart ----
  async function loadChart() {
    const to = new Date();
    const from = new Date(to.getTime() - 7 * 86400_000);
    const stats = await guarded(() => api('GET', `/v1/stats/decisions?${new URLSearchParams({ from: from.toISOString(), to: to.toISOString() })}`));
    if (!stats) return;
    const xs = stats.data.map((b) => Date.parse(b.hour) / 1000);
    const series = [{}, { label: 'decisions', stroke: '#1b1b1b', width: 2 }, { label: 'holds', stroke: '#a50e0e', width: 2, dash: [6, 3] }];
    const palette = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#7a5c00'];
    const data = [xs, stats.data.map((b) => b.decisions), stats.data.map((b) => b.holds)];
    // One line per rule that fired (shadow-only rules are in the table): how many decisions it fired in.
    const fired = stats.rules.filter((rule) => stats.totals.byRule[rule].fired > 0);
    fired.forEach((rule, i) => {
      series.push({ label: `${rule} (fired)`, stroke: palette[i % palette.length], width: 1.5 });
      data.push(stats.data.map((b) => (b.byRule[rule] ? b.byRule[rule].fired : 0)));
    });
    const t = stats.totals;
    const share = t.decisions > 0 ? ` (${((100 * t.holds) / t.decisions).toFixed(2)}%)` : '';
    $('chart-summary').textContent =
      `${t.decisions} decisions and ${t.holds} holds${share} from ${stats.from} to ${stats.to}; ` +
      `rules that fired: ${fired.join(', ') || 'none'}.`;
    $('chart-rules').querySelector('tbody').replaceChildren(
      ...stats.rules.map((rule) => {
        const c = t.byRule[rule];
        return h('tr', {}, h('th', { scope: 'row', text: rule }), h('td', { class: 'num', text: c.fired }), h('td', { class: 'num', text: c.held }), h('td', { class: 'num', text: c.shadow }));
      }),
    );
    const target = $('chart');
    if (state.chart) state.chart.destroy();
    target.replaceChildren();
    if (typeof window.uPlot !== 'function') return show('The chart library did not load.', 'error');
    const width = Math.max(320, Math.min(1100, target.clientWidth || 900));
    state.chart = new window.uPlot({ width, height: 320, series, axes: [{}, { label: 'per hour' }], scales: { x: { time: true } } }, data, target);
  }

  // ---- views and wiring ----
  function view(name) {
    for (const b of document.querySelectorAll('nav button')) b.setAttribute('aria-pressed', String(b.dataset.view === name));
    for (const v of ['queue', 'lists', 'chart']) $(`view-${v}`).hidden = v !== name;
    clearMessage();
    if (name === 'queue') loadQueue(true);
    if (name === 'lists') loadList();
    if (name === 'chart') loadChart();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', (e) => {
      e.preventDefault();
      signIn($('token').value.trim());
    });
    $('sign-out').addEventListener('click', () => signOut(true));
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      state.status = $('f-status').value;
      state.provider = $('f-provider').value;
      state.since = $('f-since').value;
      loadQueue(true);
    });
    $('more').addEventListener('click', () => loadQueue(false));
    $('release-form').addEventListener('submit', onRelease);
    $('fraud-form').addEventListener('submit', onFraud);
    $('confirm-yes').addEventListener('click', confirmPending);
    $('confirm-no').addEventListener('click', () => {
      state.pending = null;
      $('confirm').hidden = true;
    });
    $('list-pick').addEventListener('submit', (e) => {
      e.preventDefault();
      loadList();
    });
    $('list-add').addEventListener('submit', addEntry);
    for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => view(b.dataset.view));
    if (sessionStorage.getItem(TOKEN_KEY)) signIn(sessionStorage.getItem(TOKEN_KEY));
  });
})();
