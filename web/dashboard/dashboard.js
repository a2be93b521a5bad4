/* global uPlot */
/**
 * petcut's operator dashboard (docs/dashboard.md). Plain ES module, no build step.
 * The operator key lives in sessionStorage only (this tab; never the URL, never localStorage)
 * and goes out as X-API-Key to GET /v1/admin/kpis every REFRESH_MS while the tab is visible.
 * uPlot (served from /dashboard/vendor/, no CDN) draws the charts.
 */
const KEY = 'petcut.operatorKey';
const REFRESH_MS = 12_000;
const COLORS = ['#1f5f8b', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490', '#a16207', '#be185d'];

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const state = { timer: 0, charts: new Map(), minutes: 60, inFlight: false };

/** @param {string} tag @param {Record<string, string>} [attrs] @param {...(Node|string|null|undefined)} children */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...present(children));
  return node;
}

/** Leaves out the absent children (replaceChildren would print "null"). */
const present = (children) => children.filter((child) => child !== null && child !== undefined && child !== false);

// ---- formatting ------------------------------------------------------------
const num = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }));
// NVIDIA's data-centre parts slow their clocks near 85-90 °C: the tile turns red a little before.
const GPU_HOT_C = 83;
const pct = (share, digits = 1) => (share === null || share === undefined ? '–' : `${(share * 100).toFixed(digits)} %`);
const usd = (n) => (n === null || n === undefined ? '–' : n >= 100 ? `$${num(n, 0)}` : n >= 1 ? `$${n.toFixed(2)}` : `$${n.toPrecision(2)}`);
const ms = (n) => (n === null || n === undefined ? '–' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${num(n, n < 10 ? 1 : 0)} ms`);
const mb = (bytes) => (bytes === null || bytes === undefined ? '–' : `${num(bytes / 1048576, 0)} MB`);
const ago = (iso) => {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

// ---- key and requests --------------------------------------------------------
const storedKey = () => sessionStorage.getItem(KEY);

/** GET with the operator key; answers { ok, status, body } and never throws for HTTP errors. */
async function api(path, key = storedKey(), as = 'json') {
  const response = await fetch(path, { headers: { 'X-API-Key': key ?? '' }, cache: 'no-store', credentials: 'omit' });
  const text = await response.text();
  let body = text;
  if (as === 'json' || !response.ok) {
    try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  }
  return { ok: response.ok, status: response.status, body };
}

const refusal = (answer) => {
  const error = answer.body && typeof answer.body === 'object' ? answer.body.error : undefined;
  return error ? `${error.message} (${answer.status} ${error.code})` : `The service answered ${answer.status}.`;
};

// ---- sign in / out -------------------------------------------------------------
/** Back to the form, the key forgotten and every number cleared; `message` says why (tone: error or note). */
function showLogin(message, tone = 'error') {
  stop();
  sessionStorage.removeItem(KEY);
  clearNumbers();
  $('main').hidden = true;
  $('controls').hidden = true;
  $('login').hidden = false;
  const error = $('login-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  error.className = tone;
  /** @type {HTMLInputElement} */ ($('key')).value = '';
  $('key').focus();
}

function showDashboard(snapshot) {
  $('login').hidden = true;
  $('main').hidden = false;
  $('controls').hidden = false;
  render(snapshot);
}

async function signIn(event) {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('key'));
  const key = input.value.trim();
  if (!key) return showLogin('Enter the operator key.');
  $('signin').setAttribute('disabled', '');
  try {
    const answer = await api(`/v1/admin/kpis?minutes=${state.minutes}`, key);
    if (!answer.ok) return showLogin(`Refused: ${refusal(answer)}`);
    sessionStorage.setItem(KEY, key);
    input.value = '';
    showDashboard(answer.body);
    schedule();
  } catch {
    showLogin('The service could not be reached. Check the connection and try again.');
  } finally {
    $('signin').removeAttribute('disabled');
  }
}

function clearNumbers() {
  for (const chart of state.charts.values()) chart.destroy();
  state.charts.clear();
  for (const id of ['tiles', 'budget', 'alerts', 'mitigations', 'instance', 'business', 'report']) $(id).replaceChildren();
  $('report').hidden = true;
  $('status').textContent = '';
  $('problem').hidden = true;
}

// ---- refresh -----------------------------------------------------------------------
function stop() {
  clearTimeout(state.timer);
  state.timer = 0;
}

function schedule(delay = REFRESH_MS) {
  stop();
  if (!document.hidden && storedKey()) state.timer = window.setTimeout(refresh, delay);
}

async function refresh() {
  if (state.inFlight || !storedKey()) return;
  state.inFlight = true;
  try {
    const answer = await api(`/v1/admin/kpis?minutes=${state.minutes}`);
    if (answer.status === 401 || answer.status === 403) return showLogin(`Signed out: ${refusal(answer)}`);
    if (!answer.ok) throw new Error(refusal(answer));
    $('problem').hidden = true;
    render(answer.body);
  } catch (error) {
    const problem = $('problem');
    problem.hidden = false;
    problem.textContent = `No fresh numbers (${error instanceof Error ? error.message : 'network error'}); the ones shown may be old. Retrying.`;
  } finally {
    state.inFlight = false;
    schedule();
  }
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) stop();
  else if (storedKey()) void refresh();
});

// ---- rendering ------------------------------------------------------------------------
function tile(label, value, detail, tone = '') {
  return el('div', { class: `tile ${tone}`.trim(), 'data-tile': label },
    el('span', { class: 'tile-label' }, label), el('span', { class: 'tile-value' }, value), detail ? el('span', { class: 'tile-detail' }, detail) : null);
}

function render(s) {
  $('status').textContent = `Instance ${s.instance.id} · updated ${new Date(s.now).toLocaleTimeString('en-GB')} · every ${REFRESH_MS / 1000} s`;
  $('window-label').textContent = `(last ${s.minutes} min, per minute)`;
  renderTiles(s);
  renderCharts(s);
  renderBudget(s.cost);
  renderAlerts(s.alerts);
  renderMitigations(s);
  renderInstance(s.instance);
  renderBusiness(s.business);
}

function renderTiles(s) {
  const t = s.totals;
  const gpu = s.instance.gpu.devices;
  const cost = s.cost;
  const overTarget = cost.usdPer1000Images !== null && cost.usdPer1000Images > cost.usdPer1000ImagesTarget;
  const memory = s.instance.memory;
  const tiles = [
    tile('Requests / min', num(t.requestsPerMinute, 1), `${num(t.requests)} in ${s.minutes} min`),
    tile('P50 / P95 / P99', `${ms(t.latencyMs.p50)}`, `P95 ${ms(t.latencyMs.p95)} · P99 ${ms(t.latencyMs.p99)} · ${num(t.latencyMs.count)} photos`),
    tile('Success', pct(t.successRate), `${num(t.images)} ok · ${num(t.failures)} failed · 5xx ${pct(t.errorRate)}`, t.errorRate !== null && t.errorRate > 0.02 ? 'bad' : ''),
    tile('Cache hit rate', pct(t.cache.hitRate, 0), `HIT ${num(t.cache.hit)} · HIT-CUTOUT ${num(t.cache.cutout)} · MISS ${num(t.cache.miss)}`),
    tile('Cost / 1000 images', cost.metering ? usd(cost.usdPer1000Images) : 'off', `target < $${cost.usdPer1000ImagesTarget} · ${usd(t.costUsd)} in window`, overTarget ? 'bad' : ''),
    tile('Cold start', s.instance.coldStartS === null ? 'loading' : `${num(s.instance.coldStartS, 1)} s`,
      `model load ${ms(s.instance.model?.loadMs)} · ${s.instance.firstRequest ? `first photo ${ms(s.instance.firstRequest.ms)}${s.instance.firstRequest.cold ? ' (cold)' : ''}` : 'no photo yet'}`),
    tile('Queue', num(s.instance.queue.queued), `${num(s.instance.queue.inFlight)} in flight of ${num(s.instance.queue.concurrency)} · max ${num(s.instance.queue.queueMax)}`),
    tile('Memory', memory ? pct(memory.share, 0) : '–', memory ? `${mb(memory.usedBytes)} of ${mb(memory.limitBytes)} (${memory.source})` : 'no reading', memory && memory.share > 0.9 ? 'bad' : ''),
    gpu.length
      ? tile('GPU', pct(gpu[0].utilization, 0), `${gpu[0].name} · ${mb(gpu[0].memoryUsedBytes)} of ${mb(gpu[0].memoryTotalBytes)}${typeof gpu[0].temperatureC === 'number' ? ` · ${num(gpu[0].temperatureC, 0)} °C` : ''}`,
        typeof gpu[0].temperatureC === 'number' && gpu[0].temperatureC >= GPU_HOT_C ? 'bad' : '')
      : tile('GPU', 'none', s.instance.gpu.state),
    tile('Alerts firing', s.alerts.configured ? num(s.alerts.firing.length) : 'n/a', s.alerts.configured ? (s.alerts.error ? 'Alertmanager unreachable' : 'from Alertmanager') : 'PETCUT_ALERTMANAGER_URL unset', s.alerts.firing.length ? 'bad' : ''),
  ];
  $('tiles').replaceChildren(...tiles);
}

// ---- charts -----------------------------------------------------------------------------
function chartData(s) {
  const x = s.series.t.map((t) => t / 1000);
  const codes = Object.keys(s.series.errorsByCode);
  return {
    requests: { data: [x, s.series.requests, s.series.errors], series: ['requests', 'errors'] },
    latency: { data: [x, s.series.p50, s.series.p95, s.series.p99], series: ['P50', 'P95', 'P99'] },
    errors: codes.length
      ? { data: [x, ...codes.map((c) => s.series.errorsByCode[c])], series: codes.map((c) => c.replace('PETCUT_E_', '')) }
      : { data: [x, s.series.errors], series: ['no errors'] },
    memory: { data: [x, s.series.memoryUsedBytes.map((b) => (b === null ? null : b / 1048576)), s.series.memoryLimitBytes.map((b) => (b === null ? null : b / 1048576))], series: ['used', 'limit'] },
    queue: { data: [x, s.series.queueDepth, s.series.inFlight], series: ['queued', 'in flight'] },
    cache: { data: [x, s.series.cacheHitRate.map((r) => (r === null ? null : r * 100))], series: ['hit rate'] },
  };
}

function plotSize(node) {
  const width = Math.max(240, Math.floor(node.clientWidth));
  return { width, height: width < 420 ? 160 : 200 };
}

/** Charts of counts: every minute has a value (0 when quiet), so lines alone. The others are measured and may have gaps. */
const COUNTS = new Set(['requests', 'errors']);

/** Points where a series has few measured minutes (uPlot's own rule looks at spacing, not at gaps). */
function sparse(u, seriesIdx) {
  const values = u.data[seriesIdx] ?? [];
  let measured = 0;
  for (const v of values) if (v !== null && v !== undefined) measured += 1;
  return measured <= 90;
}

function renderCharts(s) {
  const all = chartData(s);
  for (const node of document.querySelectorAll('[data-chart]')) {
    const name = /** @type {HTMLElement} */ (node).dataset.chart ?? '';
    const { data, series } = all[name];
    const signature = `${name}:${series.join(',')}`;
    const existing = state.charts.get(name);
    if (existing && existing.signature === signature) {
      existing.plot.setData(data);
      continue;
    }
    existing?.destroy();
    const plot = new uPlot({
      ...plotSize(/** @type {HTMLElement} */ (node)),
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { x: { time: true }, ...(name === 'cache' ? { y: { range: [0, 100] } } : {}) },
      axes: [{ stroke: '#4d5a6a', grid: { stroke: '#eef1f5' } }, { stroke: '#4d5a6a', grid: { stroke: '#eef1f5' }, size: 56 }],
      series: [{}, ...series.map((label, i) => ({
        label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false, ...(name === 'memory' && i === 1 ? { dash: [6, 4] } : {}),
        // A young instance has a few measured minutes among empty ones: draw those as points (a lone minute has no line).
        ...(COUNTS.has(name) ? {} : { points: { show: sparse, size: 6, fill: COLORS[i % COLORS.length] } }),
      }))],
    }, data, /** @type {HTMLElement} */ (node));
    const resize = new ResizeObserver(() => plot.setSize(plotSize(/** @type {HTMLElement} */ (node))));
    resize.observe(node);
    state.charts.set(name, { plot, signature, destroy: () => { resize.disconnect(); plot.destroy(); } });
  }
}

// ---- panels ---------------------------------------------------------------------------------
function renderBudget(cost) {
  if (!cost.metering) return $('budget').replaceChildren(el('p', {}, 'Cost metering is off on this instance.'));
  const rows = ['daily', 'weekly', 'monthly'].map((period) => {
    const b = cost.burn[period];
    const share = Math.min(1, b.share);
    const meter = el('meter', { min: '0', max: '1', low: '0.75', high: '0.9', optimum: '0', value: String(share), 'aria-label': `${period} budget used` });
    return el('div', { class: 'burn', 'data-period': period },
      el('span', { class: 'burn-name' }, period), meter,
      el('span', { class: 'burn-value' }, `${usd(b.usd)} of ${usd(b.budgetUsd)} · ${pct(b.share, 2)}`),
      el('span', { class: 'burn-detail' }, b.projectedUsd === null ? 'projection after the first minute' : `at this pace ${usd(b.projectedUsd)} by the period's end`));
  });
  const today = cost.todayAllInstances;
  $('budget').replaceChildren(...rows,
    el('p', { class: 'hint' }, `This instance (${cost.source}) since ${cost.burn.monthly.from.slice(0, 10) || 'start'}; `
      + (today ? `today across ${today.instances} instance${today.instances === 1 ? '' : 's'}: ${usd(today.usd)}.` : '')));
}

function renderAlerts(alerts) {
  const box = $('alerts');
  if (!alerts.configured) return box.replaceChildren(el('p', {}, 'No Alertmanager configured (set PETCUT_ALERTMANAGER_URL).'));
  const parts = [];
  if (alerts.error) parts.push(el('p', { class: 'error', 'data-alerts-error': '' }, alerts.error));
  if (alerts.firing.length === 0) parts.push(el('p', { class: 'ok' }, alerts.error ? 'No list (see above).' : 'Nothing firing.'));
  else {
    parts.push(el('ul', { class: 'alerts' }, ...alerts.firing.map((a) => el('li', { class: `sev-${a.severity ?? 'none'}` },
      el('strong', {}, a.name), a.severity ? el('span', { class: 'badge' }, a.severity) : null,
      a.summary ? el('span', { class: 'alert-summary' }, a.summary) : null, el('span', { class: 'hint' }, `since ${ago(a.startsAt)}`)))));
  }
  parts.push(el('p', { class: 'hint' }, `${alerts.source ?? ''} · ${alerts.fetchedAt ? `read ${ago(alerts.fetchedAt)}` : 'never read'}`));
  box.replaceChildren(...parts);
}

function renderMitigations(s) {
  const active = Array.isArray(s.mitigations.active) ? s.mitigations.active : [];
  const w = s.warmups;
  const counts = Object.entries(w.counts ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(' · ') || 'none yet';
  $('mitigations').replaceChildren(...present([
    active.length
      ? el('ul', {}, ...active.map((m) => el('li', {}, el('strong', {}, m.action), ` for ${m.alert}${m.value !== undefined ? ` (${m.value})` : ''}, until ${new Date(m.expiresAt).toLocaleTimeString('en-GB')}`)))
      : el('p', { class: 'ok' }, 'No mitigation active.'),
    el('p', {}, `Warm: ${w.warm ? 'yes' : 'no'} · warm-ups: ${counts}`),
    w.last ? el('p', { class: 'hint' }, `last warm-up ${ago(w.last.at)}: ${w.last.result} (${ms(w.last.ms)})`) : null]));
}

function renderInstance(i) {
  const rows = [
    ['Started', `${new Date(i.startedAt).toLocaleString('en-GB')} (up ${num(i.uptimeS / 60, 0)} min)`],
    ['Version', `${i.version ?? '–'}${i.revision ? ` · ${i.revision}` : ''}`],
    ['Model', i.model ? `${i.model.name} on ${i.model.device}` : 'loading'],
    ['Ready', i.readyAt ? `${new Date(i.readyAt).toLocaleTimeString('en-GB')} (cold start ${num(i.coldStartS, 1)} s)` : '–'],
    ['First photo', i.firstRequest ? `${ago(i.firstRequest.at)}, ${ms(i.firstRequest.ms)}${i.firstRequest.cold ? ', cold' : ''}` : 'none yet'],
  ];
  $('instance').replaceChildren(el('dl', { class: 'facts' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
}

function renderBusiness(b) {
  const box = $('business');
  if (!b) return box.replaceChildren(el('p', {}, 'No business numbers on this instance.'));
  const sat = b.satisfaction;
  const events = Object.entries(b.events.byEvent).filter(([, n]) => n > 0);
  const summary = el('div', { class: 'tiles small' },
    tile('Satisfaction', pct(sat.shareGood, 1), `${num(sat.good)} good · ${num(sat.bad)} bad · target ${pct(sat.target, 0)}`, sat.shareGood !== null && sat.shareGood < sat.target ? 'bad' : ''),
    tile('Widget events', num(b.events.total), `since ${new Date(b.since).toLocaleString('en-GB')}`),
    tile('Downtime', `${num(b.revenue.downtimeMinutes, 1)} min`, `${pct(b.revenue.failedShare, 2)} of ${num(b.revenue.requests)} requests failed`),
    tile('Revenue lost to downtime', b.revenue.lostRevenueUsd === null ? '–' : usd(b.revenue.lostRevenueUsd),
      b.revenue.orderValueUsd === null ? 'set PETCUT_ORDER_VALUE_USD' : `${num(b.revenue.lostOrders, 2)} orders at ${usd(b.revenue.orderValueUsd)} (${b.revenue.ordersPerDaySource})`));
  const table = (head, rows) => el('table', {}, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, String(c)))))));
  const parts = [summary];
  parts.push(events.length ? table(['event', 'count'], events) : el('p', { class: 'hint' }, 'No widget events yet.'));
  if (b.experiment) {
    parts.push(el('h3', {}, `A/B: ${b.experiment.name}`),
      table(['variant', 'sessions', 'saw a cut-out', 'added to cart', 'conversion'], b.experiment.results.map((r) => [r.variant, num(r.sessions), num(r.sawCutout), num(r.addedToCart), pct(r.conversion)])));
  } else parts.push(el('p', { class: 'hint' }, 'No A/B experiment configured (PETCUT_EXPERIMENT).'));
  box.replaceChildren(...parts);
}

// ---- the weekly report ----------------------------------------------------------------
/** The report's HTML, shown as elements of this page: no scripts, styles or handlers survive (and the CSP allows none). */
function showReport(html) {
  // Style and script blocks go before parsing too: Chromium reports the page's CSP refusing them even in a parsed, inert document.
  const doc = new DOMParser().parseFromString(html.replace(/<(style|script)\b[\s\S]*?<\/\1\s*>/gi, ''), 'text/html');
  for (const node of doc.querySelectorAll('script, style, link, iframe, object, embed, form, base, meta')) node.remove();
  for (const node of doc.querySelectorAll('*')) {
    for (const attr of [...node.attributes]) if (/^on/i.test(attr.name) || attr.name === 'style' || /^\s*javascript:/i.test(attr.value)) node.removeAttribute(attr.name);
  }
  const report = $('report');
  report.replaceChildren(...[...doc.body.childNodes].map((n) => document.importNode(n, true)));
  report.hidden = false;
}

async function loadReport(format) {
  const error = $('report-error');
  error.hidden = true;
  try {
    const answer = await api(`/v1/admin/report?format=${format}`, storedKey(), 'text');
    if (answer.status === 401 || answer.status === 403) return showLogin(`Signed out: ${refusal(answer)}`);
    if (!answer.ok) throw new Error(answer.status === 404 ? 'this service has no weekly report route' : refusal(answer));
    if (format === 'html') return showReport(String(answer.body));
    const link = el('a', { href: URL.createObjectURL(new Blob([String(answer.body)], { type: 'text/markdown' })), download: `petcut-weekly-${new Date().toISOString().slice(0, 10)}.md` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.getAttribute('href') ?? ''), 10_000);
  } catch (e) {
    error.hidden = false;
    error.textContent = `The weekly report could not be loaded: ${e instanceof Error ? e.message : 'network error'}.`;
  }
}

// ---- start ----------------------------------------------------------------------------------
function start() {
  $('login-form').addEventListener('submit', (event) => void signIn(event));
  $('signout').addEventListener('click', () => showLogin('Signed out: the key was removed from this tab.', 'note'));
  $('window').addEventListener('change', (event) => {
    state.minutes = Number(/** @type {HTMLSelectElement} */ (event.target).value) || 60;
    void refresh();
  });
  $('report-load').addEventListener('click', () => void loadReport('html'));
  $('report-md').addEventListener('click', () => void loadReport('md'));
  if (storedKey()) {
    $('login').hidden = true;
    $('main').hidden = false;
    $('controls').hidden = false;
    void refresh();
  } else {
    $('login').hidden = false;
    $('key').focus();
  }
}

start();
