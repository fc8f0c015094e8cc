/*
 * Conveyor's dashboard. Everything it shows comes from the admin API
 * (/api/v1/), with the token the operator types in (kept in this tab's
 * sessionStorage only). Text from the server is always inserted as text,
 * never as HTML. No framework, no build step, nothing loaded from
 * elsewhere.
 */
'use strict';

const REFRESH_MS = 2000;
const state = { token: sessionStorage.getItem('conveyor-token') || '', topology: null,
                samples: [], timer: null };

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

function showError(msg) {
  const p = $('error');
  p.textContent = msg || '';
  p.hidden = !msg;
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: 'Bearer ' + state.token } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch('/api/v1' + path, opts);
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: res.statusText }; }
  if (!res.ok) {
    const err = new Error(data.error || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmtAgo(s) {
  if (s === null || s === undefined) return '-';
  if (s < 90) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  if (s < 5400) return (s / 60).toFixed(1) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

/* Hides the rows of a list that do not contain the filter's text. */
function applyFilter(listId) {
  const input = document.querySelector('input.filter[data-list="' + listId + '"]');
  const q = input ? input.value.trim().toLowerCase() : '';
  for (const tr of $(listId).rows) {
    tr.hidden = q !== '' && !tr.textContent.toLowerCase().includes(q);
  }
}

function fill(listId, rows, empty) {
  const tbody = $(listId);
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const cols = tbody.parentElement.tHead.rows[0].cells.length;
    tbody.append(el('tr', {}, el('td', { colSpan: cols, class: 'muted' }, empty)));
  }
  applyFilter(listId);
}

/* ---- panels */

function renderStatus(st) {
  fill('partitions', st.partitions.map((p) => el('tr',
    { class: p.lag > 0 ? 'lagging' : '', 'data-group': p.group },
    el('td', {}, p.group), el('td', {}, p.topic), el('td', { class: 'num' }, String(p.partition)),
    el('td', { class: 'num' }, String(p.stored)),
    el('td', { class: 'num' }, p.high === null ? '-' : String(p.high)),
    el('td', { class: 'num lag' }, p.lag === null ? 'unknown' : String(p.lag)),
    el('td', { class: 'num lag' }, p.lag_seconds === null ? '-' : fmtAgo(p.lag_seconds)))),
    'no stored offsets yet: no consumer has joined');
  fill('members', st.members.map((m) => el('tr', { class: m.state === 'paused' ? 'paused' : '' },
    el('td', {}, m.group_id), el('td', {}, m.member), el('td', { class: 'state' }, m.state),
    el('td', {}, m.detail), el('td', {}, fmtAgo(m.age_s) + ' ago'))),
    'no consumer heard from in ten minutes');
  const groups = new Map();
  for (const p of st.partitions) {
    const g = groups.get(p.group) || { n: 0, lag: 0, unknown: false, oldest: 0, members: 0 };
    g.n++;
    if (p.lag === null) g.unknown = true; else g.lag += p.lag;
    g.oldest = Math.max(g.oldest, p.lag_seconds || 0);
    groups.set(p.group, g);
  }
  for (const m of st.members) if (groups.has(m.group_id)) groups.get(m.group_id).members++;
  fill('groups', [...groups].map(([name, g]) => el('tr', { class: g.lag > 0 ? 'lagging' : '', 'data-group': name },
    el('td', {}, name), el('td', { class: 'num' }, String(g.n)),
    el('td', { class: 'num lag' }, g.unknown ? 'unknown' : String(g.lag)),
    el('td', { class: 'num lag' }, fmtAgo(g.oldest)), el('td', { class: 'num' }, String(g.members)))),
    'no group has stored offsets yet');
  const lag = st.partitions.reduce((a, p) => a + (p.lag || 0), 0);
  $('summary').textContent = 'total lag ' + lag + ' events; outbox ' + st.outbox.unpublished +
    ' unpublished; ' + st.dead_letters.open + ' open dead letters; ' + st.retries.waiting +
    ' retries waiting; ' + st.retention_gaps.length + ' retention gaps';
  state.samples.push({ t: st.time_ms, c: st.counters });
  if (state.samples.length > 120) state.samples.shift();
  drawChart();
  renderSwitches(st.switches);
}

function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, pad = 30;
  const s = state.samples;
  const series = [
    { key: 'processed', color: '#2563eb', label: 'processed/s' },
    { key: 'dead_lettered', color: '#b91c1c', label: 'dead-lettered/s' },
    { key: 'published', color: '#047857', label: 'published/s' },
  ];
  const rates = series.map(() => []);
  for (let i = 1; i < s.length; i++) {
    const dt = (s[i].t - s[i - 1].t) / 1000;
    series.forEach((se, k) => rates[k].push(dt > 0 ? Math.max(0, s[i].c[se.key] - s[i - 1].c[se.key]) / dt : 0));
  }
  const max = Math.max(1, ...rates.flat());
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#e5e7eb';
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px sans-serif';
  ctx.beginPath(); ctx.moveTo(pad, h - pad); ctx.lineTo(w, h - pad); ctx.stroke();
  ctx.fillText(max.toFixed(0), 2, 12);
  ctx.fillText('0', 2, h - pad);
  series.forEach((se, k) => {
    ctx.strokeStyle = se.color;
    ctx.beginPath();
    rates[k].forEach((v, i) => {
      const x = pad + (w - pad) * i / 119, y = (h - pad) - (h - pad - 10) * v / max;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = se.color;
    ctx.fillText(se.label, pad + 10 + k * 120, h - 10);
  });
  const last = rates[0].length ? rates[0][rates[0].length - 1] : 0;
  $('rate').textContent = 'this process: ' + last.toFixed(1) + ' events/s processed now; ' +
    (s.length ? s[s.length - 1].c.processed : 0) + ' since it started';
}

function renderSwitches(switches) {
  if (!state.topology) return;
  const on = new Map(switches.map((w) => [w.scope + ':' + w.target, w]));
  const targets = [['all', '']];
  for (const d of state.topology.domains) {
    targets.push(['domain', d.name]);
    for (const r of d.routes) targets.push(['route', d.name + '/' + r.event]);
  }
  for (const s of state.topology.schedules) targets.push(['schedule', s.name]);
  fill('targets', targets.map(([scope, target]) => {
    const w = on.get(scope + ':' + target);
    const button = el('button', {
      class: w ? 'resume' : 'pause primary',
      onclick: () => setSwitch(!w, scope, target),
    }, w ? 'Resume' : 'Pause');
    return el('tr', { class: w ? 'paused' : '', 'data-scope': scope, 'data-target': target },
      el('td', {}, scope), el('td', {}, target || '(everything)'),
      el('td', { class: 'state' }, w ? 'paused' : 'running'),
      el('td', {}, w ? w.since + ' by ' + w.actor + ': ' + w.reason : ''), el('td', {}, button));
  }), 'no domains');
}

async function setSwitch(pause, scope, target) {
  const reason = $('switch-reason').value.trim();
  if (pause && !reason) {
    showError('Give a reason to pause (it goes into the audit log).');
    $('switch-reason').focus();
    return;
  }
  try {
    await api('POST', pause ? '/pause' : '/resume', { scope, target, reason: reason || undefined });
    showError('');
    await refresh();
  } catch (e) { showError((pause ? 'pause: ' : 'resume: ') + e.message); }
}

function renderSchedules(data) {
  fill('schedules', data.schedules.map((s) => {
    return el('tr', { class: s.paused ? 'paused' : '', 'data-schedule': s.schedule },
      el('td', {}, s.schedule), el('td', {}, s.cron + ' (' + s.zone + ')'),
      el('td', { class: 'state' }, s.paused ? 'paused' : (s.enabled ? 'enabled' : 'disabled')),
      el('td', {}, fmtTime(s.last_fire_ms)),
      el('td', {}, s.next_fires_ms.length ? fmtTime(s.next_fires_ms[0]) : 'none'),
      el('td', {}, s.scheduled + ' / ' + s.catch_up + ' / ' + s.skipped + ' / ' + s.manual),
      el('td', {}, el('button', { onclick: () => trigger(s.schedule) }, 'Run now')));
  }), 'no schedules in the topology');
}

async function trigger(name) {
  const reason = $('trigger-reason').value.trim();
  if (!reason) { showError('Give a reason to trigger a run.'); $('trigger-reason').focus(); return; }
  try {
    const r = await api('POST', '/schedules/' + encodeURIComponent(name) + '/trigger', { reason });
    showError('');
    $('updated').textContent = 'triggered ' + name + ': ' + r.event_id;
  } catch (e) { showError('trigger: ' + e.message); }
}

function dlqQuery() {
  const f = new FormData($('dlq-filters'));
  const q = new URLSearchParams();
  for (const k of ['group', 'type', 'error', 'status']) {
    const v = (f.get(k) || '').trim();
    if (v) q.set(k, v);
  }
  return '/dead-letters?' + q.toString();
}

function renderDeadLetters(data) {
  fill('dead-letters', data.dead_letters.map((d) => el('tr', { 'data-id': String(d.id) },
    el('td', {}, String(d.id)), el('td', {}, d.group_id),
    el('td', {}, d.topic + '[' + d.partition + ']@' + d.offset), el('td', {}, d.event_type || '-'),
    el('td', { class: 'num' }, String(d.attempts)), el('td', {}, d.last_failed), el('td', {}, d.status),
    el('td', { class: 'error-text' }, d.error),
    el('td', {}, d.status === 'open'
      ? el('span', {}, el('button', { onclick: () => dlqChange('retry', d.id) }, 'Retry'), ' ',
        el('button', { onclick: () => dlqChange('discard', d.id) }, 'Discard'))
      : ''))), 'no dead letters match');
}

async function dlqChange(what, id) {
  const reason = $('dlq-reason').value.trim();
  if (what === 'discard' && !reason) { showError('Give a reason to discard.'); $('dlq-reason').focus(); return; }
  try {
    await api('POST', '/dead-letters/' + what, { ids: [id], reason: reason || undefined });
    showError('');
    await refresh();
  } catch (e) { showError('dead letter ' + what + ': ' + e.message); }
}

function renderEffects(data) {
  fill('effects', data.targets.map((t) => el('tr', {},
    el('td', {}, t.target), el('td', { class: 'num' }, String(t.pending)),
    el('td', { class: 'num' }, String(t.in_flight)), el('td', { class: 'num' }, String(t.concurrency_limit)),
    el('td', { class: 'num' }, String(t.failed)), el('td', { class: 'num' }, String(t.calls)))),
    'no targets configured');
}

/* ---- the loop */

async function refresh() {
  try {
    if (!state.topology) state.topology = await api('GET', '/topology');
    const [st, sch, dlq, eff] = await Promise.all([
      api('GET', '/status'), api('GET', '/schedules'), api('GET', dlqQuery()), api('GET', '/effects')]);
    renderStatus(st);
    renderSchedules(sch);
    renderDeadLetters(dlq);
    renderEffects(eff);
    $('main').hidden = false;
    $('login').hidden = true;
    $('logout').hidden = false;
    $('updated').textContent = 'updated ' + fmtTime(st.time_ms);
    if ($('error').textContent.startsWith('API:')) showError('');
  } catch (e) {
    if (e.status === 401 || e.status === 404) {
      stop();
      $('main').hidden = true;
      $('login').hidden = false;
      $('logout').hidden = true;
    }
    showError('API: ' + e.message);
  }
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function start() {
  stop();
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem('conveyor-token', state.token);
    state.topology = null;
    start();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem('conveyor-token');
    state.token = '';
    stop();
    $('main').hidden = true;
    $('login').hidden = false;
    $('logout').hidden = true;
  });
  $('dlq-filters').addEventListener('submit', (ev) => { ev.preventDefault(); refresh(); });
  for (const input of document.querySelectorAll('input.filter')) {
    input.addEventListener('input', () => applyFilter(input.dataset.list));
  }
  if (state.token) start();
});
