// Medic console: a small page over the collector's JSON API (/api/v1/<Method>, the proto JSON
// mapping of TechnicianService). No framework and no build step: plain DOM, inline SVG charts.
'use strict';

const POLL_MS = 5000;
const HISTORY_METRICS = ['fs.free_bytes', 'memory.available_bytes', 'dns.answer_ms',
                         'printer.marker_level'];
const CHECKS = ['DNS', 'HEALTH', 'PING', 'TCP', 'HTTP', 'PRINTERS', 'DISK', 'UPDATES', 'SERVICES',
                'LOGS'];

// ---- API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(method, status, code, message) {
    super(message || `${method} failed (${code || status})`);
    this.method = method;
    this.status = status;
    this.code = code;
  }
}

function headers() {
  const h = {'Content-Type': 'application/json'};
  const token = localStorage.getItem('medicToken');
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function errorOf(method, response) {
  let code = '', message = '';
  try {
    const body = await response.json();
    code = body.error && body.error.code;
    message = body.error && body.error.message;
  } catch (e) { /* not JSON: keep the HTTP status */ }
  return new ApiError(method, response.status, code, message);
}

async function api(method, body) {
  let response;
  try {
    response = await fetch(`/api/v1/${method}`, {
      method: 'POST', headers: headers(), body: JSON.stringify(body || {}),
    });
  } catch (e) {
    throw new ApiError(method, 0, 'UNAVAILABLE',
                       'cannot reach the collector — is medic-collector still running?');
  }
  if (!response.ok) throw await errorOf(method, response);
  return response.json();
}

// A server-streaming method as server-sent events, read with fetch (so a refusal arrives as
// a plain HTTP error with its message). Calls onMessage(obj) per message; resolves when the
// stream ends, rejects with ApiError when it fails.
async function stream(method, body, onMessage, onOpen) {
  const response = await fetch(`/api/v1/${method}`, {
    method: 'POST', headers: headers(), body: JSON.stringify(body || {}),
  });
  if (!response.ok) throw await errorOf(method, response);
  if (onOpen) onOpen();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue;  // a comment (keepalive)
      const parsed = JSON.parse(data);
      if (event === 'end') return;
      if (event === 'error') {
        const e = parsed.error || {};
        throw new ApiError(method, e.status, e.code, e.message);
      }
      onMessage(parsed);
    }
  }
  throw new ApiError(method, 0, 'UNAVAILABLE', 'the stream ended before the collector finished it');
}

// ---- DOM helpers -----------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// "SEVERITY_CRITICAL" -> "critical"
function word(value, prefix) {
  if (!value) return '';
  return String(value).replace(prefix, '').toLowerCase().replace(/_/g, ' ');
}

function badge(kind, value, prefix) {
  const w = word(value, prefix);
  return el('span', {class: `${kind} ${kind}-${w.replace(/ /g, '-')}`}, w || 'unknown');
}

function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (isNaN(d)) return ts;
  return d.toLocaleString([], {dateStyle: 'short', timeStyle: 'medium'});
}

function ago(ts) {
  if (!ts) return '—';
  const s = Math.round((Date.now() - new Date(ts)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function formatValue(value, unit) {
  if (unit === 'bytes') {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = value, i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
  }
  const rounded = Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(3));
  if (unit === 'pct') return `${rounded}%`;
  if (unit === 'ms') return `${rounded} ms`;
  return unit && unit !== 'count' ? `${rounded} ${unit}` : `${rounded}`;
}

function hostLink(host) { return el('a', {href: `#/machine/${encodeURIComponent(host)}`}, host); }
function ticketLink(id) { return el('a', {href: `#/ticket/${encodeURIComponent(id)}`}, id); }

function table(caption, headings, rows, empty) {
  if (!rows.length) return el('p', {class: 'muted'}, empty);
  return el('table', {},
            caption ? el('caption', {}, caption) : null,
            el('thead', {}, el('tr', {}, headings.map((h) => el('th', {scope: 'col'}, h)))),
            el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

function errorBox(error, id) {
  return el('p', {class: 'error', role: 'alert', id}, error.message || String(error));
}

// ---- Charts ----------------------------------------------------------------------------

const CHART_TITLES = {
  'fs.free_bytes': (r) => `Disk free on ${r || '/'}`,
  'memory.available_bytes': () => 'Memory available',
  'dns.answer_ms': (r) => `DNS answer time from ${r || 'the resolver'}`,
  'printer.marker_level': (r) => `Printer level: ${r}`,
};

// A line chart of one series over [from, to], drawn as inline SVG.
function lineChart(series, from, to) {
  const title = (CHART_TITLES[series.metric] || ((r) => `${series.metric} ${r}`))(series.resource);
  const points = (series.points || []).map((p) => ({t: new Date(p.at).getTime(), v: p.value || 0}));
  const W = 420, H = 170, L = 64, R = 10, T = 10, B = 26;
  let min = Math.min(...points.map((p) => p.v)), max = Math.max(...points.map((p) => p.v));
  if (series.unit === 'pct') { min = Math.min(min, 0); max = Math.max(max, 100); }
  if (min > 0 && min < max * 0.5) min = 0;
  if (max === min) { max += Math.abs(max) * 0.1 || 1; min -= Math.abs(min) * 0.1 || 0; }
  const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
  const y = (v) => T + (1 - (v - min) / (max - min)) * (H - T - B);
  const latest = points.length ? points[points.length - 1].v : 0;
  const label = `${title} over the last day: latest ${formatValue(latest, series.unit)}, ` +
                `lowest ${formatValue(Math.min(...points.map((p) => p.v)), series.unit)}, ` +
                `highest ${formatValue(Math.max(...points.map((p) => p.v)), series.unit)}, ` +
                `${points.length} measurements`;
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label},
                    svg('title', {}, label));
  for (const v of [min, (min + max) / 2, max]) {
    chart.append(svg('line', {class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v)}));
    chart.append(svg('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'},
                     formatValue(v, series.unit)));
  }
  chart.append(svg('line', {class: 'axis', x1: L, x2: L, y1: T, y2: H - B}));
  chart.append(svg('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  const hhmm = (t) => new Date(t).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  for (const [t, anchor] of [[from, 'start'], [(from + to) / 2, 'middle'], [to, 'end']]) {
    chart.append(svg('text', {x: x(t), y: H - 8, 'text-anchor': anchor}, hhmm(t)));
  }
  if (points.length === 1) {
    chart.append(svg('circle', {class: 'dot', cx: x(points[0].t), cy: y(points[0].v), r: 3}));
  } else if (points.length > 1) {
    chart.append(svg('polyline', {
      class: 'line', points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
    }));
  }
  return el('figure', {class: 'chart', 'data-metric': series.metric,
                       'data-resource': series.resource || '', 'data-points': points.length},
            el('figcaption', {}, title,
               el('span', {class: 'muted'}, ` — now ${formatValue(latest, series.unit)}`)),
            chart);
}

// ---- Pages -----------------------------------------------------------------------------

const AREAS = [
  {name: 'Hardware', codes: ['disk', 'memory', 'swap', 'cpu', 'battery', 'hardware'],
   probes: ['cpu', 'memory', 'filesystems', 'disks', 'hardware_errors', 'battery', 'thermal']},
  {name: 'Operating system', codes: ['os'], probes: ['os', 'reboot', 'updates', 'services', 'time', 'crashes', 'kernel_log']},
  {name: 'Printers', codes: ['printer'], probes: ['printers']},
  {name: 'Network', codes: ['net'], probes: ['network', 'connectivity', 'wifi', 'interfaces']},
  {name: 'Connection', codes: ['host'], probes: []},
];
function areaOfCode(code) {
  const prefix = String(code).split('.')[0];
  return AREAS.find((a) => a.codes.includes(prefix)) || AREAS[0];
}
function areaOfProbe(probe) {
  return AREAS.find((a) => a.probes.includes(probe)) || {name: 'Other'};
}

function findingBox(f) {
  const crit = f.severity === 'SEVERITY_CRITICAL';
  return el('div', {class: `finding${crit ? ' sev-critical-box' : ''}`},
            badge('sev', f.severity, 'SEVERITY_'), ' ', el('strong', {}, f.summary || f.code),
            el('div', {class: 'muted'}, `${f.code}${f.resource ? ' · ' + f.resource : ''} · since ${when(f.raisedAt)}`));
}

async function overviewPage() {
  const [machines, incidents, tickets] = await Promise.all([
    api('ListMachines', {}), api('ListIncidents', {}), api('ListTickets', {}),
  ]);
  const ms = machines.machines || [];
  const online = ms.filter((m) => m.state === 'MACHINE_STATE_ONLINE').length;
  const offline = ms.filter((m) => m.state === 'MACHINE_STATE_OFFLINE').length;
  const attention = ms.filter((m) => m.openFindings > 0 || m.state === 'MACHINE_STATE_OFFLINE');
  const sevRank = {SEVERITY_CRITICAL: 3, SEVERITY_WARNING: 2, SEVERITY_INFO: 1};
  attention.sort((a, b) => (sevRank[b.worstSeverity] || 0) - (sevRank[a.worstSeverity] || 0) ||
                           b.openFindings - a.openFindings);
  const openIncidents = incidents.incidents || [];
  const openTickets = (tickets.tickets || []).filter((t) => t.state !== 'TICKET_STATE_RESOLVED');
  const count = (n, what, id) => el('li', {id}, el('span', {class: 'n'}, n), what);
  const machineRow = (m) => [hostLink(m.hostname), badge('state', m.state, 'MACHINE_STATE_'),
                             m.openFindings ? badge('sev', m.worstSeverity, 'SEVERITY_') : el('span', {class: 'ok'}, 'healthy'),
                             String(m.openFindings), m.site || '—', ago(m.lastSeen)];
  return [
    el('h1', {}, 'Fleet overview'),
    el('ul', {class: 'counts', 'aria-label': 'Counts'},
       count(ms.length, 'machines', 'count-machines'), count(online, 'online', 'count-online'),
       count(offline, 'offline', 'count-offline'),
       count(attention.length, 'need attention', 'count-attention'),
       count(openIncidents.length, 'open incidents', 'count-incidents'),
       count(openTickets.length, 'open tickets', 'count-tickets')),
    el('h2', {}, 'Open incidents'),
    table(null, ['Incident', 'What', 'Scope', 'Severity', 'Hosts', 'Opened', 'Ticket'],
          openIncidents.map((i) => [i.incidentId, `${i.code}${i.resource ? ' · ' + i.resource : ''}`,
                                    word(i.scope, 'SCOPE_'), badge('sev', i.severity, 'SEVERITY_'),
                                    (i.hosts || []).length ? el('span', {}, (i.hosts || []).slice(0, 5).flatMap((h, k) => [k ? ', ' : '', hostLink(h)]), i.hosts.length > 5 ? ` and ${i.hosts.length - 5} more` : '') : '—',
                                    ago(i.openedAt), i.ticketId ? ticketLink(i.ticketId) : '—']),
          'No open incidents.'),
    el('h2', {}, 'Machines that need attention'),
    table(null, ['Machine', 'State', 'Worst', 'Findings', 'Site', 'Last seen'],
          attention.map(machineRow), 'Every machine is healthy.'),
    el('details', {}, el('summary', {}, `All machines (${ms.length})`),
       table(null, ['Machine', 'State', 'Worst', 'Findings', 'Site', 'Last seen'], ms.map(machineRow),
             'No machine has reported yet.')),
  ];
}

const diagnostics = {};  // per host: the output of the last run, kept across live refreshes

async function machinePage(host) {
  const since = new Date(Date.now() - 24 * 3600 * 1000);
  const [health, history] = await Promise.all([
    api('GetMachineHealth', {host}),
    api('GetMachineHistory', {host, since: since.toISOString(), metrics: HISTORY_METRICS})
        .catch((e) => ({error: e})),
  ]);
  const m = health.machine || {};
  const findings = health.findings || [];
  const byArea = new Map();
  for (const a of AREAS) byArea.set(a.name, {findings: [], reports: []});
  for (const f of findings) byArea.get(areaOfCode(f.code).name).findings.push(f);
  for (const r of health.reports || []) {
    const a = areaOfProbe(r.probe).name;
    if (!byArea.has(a)) byArea.set(a, {findings: [], reports: []});
    byArea.get(a).reports.push(r);
  }
  const areaBoxes = [];
  for (const [name, a] of byArea) {
    if (!a.findings.length && !a.reports.length) continue;
    areaBoxes.push(el('section', {class: 'area', 'aria-label': name}, el('h3', {}, name),
      a.findings.length ? a.findings.map(findingBox) : el('p', {class: 'ok'}, 'No problems found.'),
      a.reports.map((r) => el('div', {},
        el('div', {class: 'muted'}, `${r.probe}: ${word(r.outcome, 'PROBE_OUTCOME_') || 'ok'}, ${ago(r.collectedAt)}`,
           r.error ? ` — ${r.error}` : ''),
        (r.observations || []).length ? el('dl', {class: 'kv'}, (r.observations || []).slice(0, 8).flatMap((o) =>
          [el('dt', {}, `${o.metric}${o.resource ? ' ' + o.resource : ''}`), el('dd', {}, formatValue(o.value || 0, o.unit))])) : null))));
  }
  let charts;
  if (history.error) {
    charts = errorBox(history.error, 'history-error');
  } else if (!(history.series || []).length) {
    charts = el('p', {class: 'muted'}, 'No history for this machine in the last day yet.');
  } else {
    charts = el('div', {class: 'charts'}, history.series.slice(0, 12).map((s) => lineChart(s, since.getTime(), Date.now())));
  }
  const topo = health.topology || {};
  return [
    el('h1', {}, m.hostname || host, ' ', badge('state', m.state, 'MACHINE_STATE_')),
    el('dl', {class: 'kv'},
       el('dt', {}, 'Machine id'), el('dd', {}, m.machineId || '—'),
       el('dt', {}, 'Operating system'), el('dd', {}, m.os || '—'),
       el('dt', {}, 'Site'), el('dd', {}, m.site || '—'),
       el('dt', {}, 'Address'), el('dd', {}, m.address || '—'),
       el('dt', {}, 'Subnets'), el('dd', {}, (topo.subnets || []).join(', ') || '—'),
       el('dt', {}, 'Agent'), el('dd', {}, m.agentVersion || '—'),
       el('dt', {}, 'Last seen'), el('dd', {}, `${when(m.lastSeen)} (${ago(m.lastSeen)})`)),
    el('h2', {}, `Findings (${findings.length})`),
    findings.length ? el('div', {id: 'findings'}, findings.map(findingBox))
                    : el('p', {class: 'ok', id: 'findings'}, 'Nothing wrong is standing on this machine.'),
    el('h2', {}, 'Run a diagnostic'),
    diagnosticForm(m.hostname || host),
    el('h2', {}, 'Health by area'),
    areaBoxes.length ? el('div', {class: 'areas'}, areaBoxes) : el('p', {class: 'muted'}, 'No reports yet.'),
    el('h2', {}, 'Last 24 hours'),
    charts,
    (health.recentlyCleared || []).length ? [
      el('h2', {}, 'Cleared in the last day'),
      table(null, ['Finding', 'What', 'Cleared'], health.recentlyCleared.map((f) =>
        [f.code, f.summary, when(f.clearedAt)]), ''),
    ] : null,
  ];
}

function diagnosticForm(host) {
  const state = diagnostics[host] || (diagnostics[host] = {lines: [], error: null, running: false});
  const output = el('pre', {class: 'result', id: 'diag-output', 'aria-live': 'polite', tabindex: '0'},
                    state.lines.join('\n') || 'No diagnostic run yet.');
  const errorSlot = el('div', {id: 'diag-error-slot'}, state.error ? errorBox(state.error, 'diag-error') : null);
  const check = el('select', {id: 'diag-check', name: 'check'},
                   CHECKS.map((c) => el('option', {value: c}, c.toLowerCase())));
  const params = el('input', {id: 'diag-params', name: 'params', size: 36,
                              placeholder: 'name=intranet.corp', value: state.params || ''});
  const button = el('button', {type: 'submit', id: 'diag-run', disabled: state.running}, state.running ? 'Running…' : 'Run');
  const form = el('form', {class: 'inline', id: 'diag-form', onsubmit: async (e) => {
    e.preventDefault();
    const parsed = {};
    for (const part of params.value.split(/[\s,]+/).filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq > 0) parsed[part.slice(0, eq)] = part.slice(eq + 1);
    }
    state.params = params.value;
    state.lines = [`${check.value.toLowerCase()} on ${host}…`];
    state.error = null;
    state.running = true;
    button.disabled = true;
    button.textContent = 'Running…';
    output.textContent = state.lines.join('\n');
    errorSlot.replaceChildren();
    try {
      await stream('RunDiagnostic', {selector: {hosts: [host]}, check: `DIAGNOSTIC_CHECK_${check.value}`,
                                     params: parsed, deadline: '15s'}, (r) => {
        state.lines.push(`${r.machine}: ${word(r.outcome, 'DIAGNOSTIC_OUTCOME_')} in ${r.took || '?'} — ${r.summary || ''}`);
        for (const line of r.lines || []) state.lines.push(`  ${line}`);
        for (const f of r.findings || []) state.lines.push(`  finding: ${f.summary || f.code}`);
        output.textContent = state.lines.join('\n');
      });
      state.lines.push('done.');
    } catch (err) {
      state.error = err;
      state.lines.push('failed.');
      errorSlot.replaceChildren(errorBox(err, 'diag-error'));
    }
    state.running = false;
    button.disabled = false;
    button.textContent = 'Run';
    output.textContent = state.lines.join('\n');
  }},
  el('label', {for: 'diag-check'}, 'Check', check),
  el('label', {for: 'diag-params'}, 'Parameters (name=value …)', params),
  button);
  if (state.check) check.value = state.check;
  check.addEventListener('change', () => { state.check = check.value; });
  return [form, errorSlot, output];
}

async function ticketsPage() {
  const filter = new URLSearchParams(location.hash.split('?')[1] || '').get('state') || 'active';
  const request = filter === 'active' || filter === 'all' ? {} : {state: `TICKET_STATE_${filter.toUpperCase()}`};
  const [tickets, incidents] = await Promise.all([
    api('ListTickets', request), api('ListIncidents', {includeResolved: filter === 'all'}),
  ]);
  let ts = tickets.tickets || [];
  if (filter === 'active') ts = ts.filter((t) => t.state !== 'TICKET_STATE_RESOLVED');
  const select = el('select', {id: 'ticket-filter', onchange: (e) => { location.hash = `#/tickets?state=${e.target.value}`; }},
    [['active', 'open and acknowledged'], ['open', 'open'], ['acknowledged', 'acknowledged'],
     ['resolved', 'resolved'], ['all', 'all']].map(([v, t]) => el('option', {value: v, selected: v === filter}, t)));
  return [
    el('h1', {}, 'Incidents and tickets'),
    el('label', {for: 'ticket-filter'}, 'Show tickets', select),
    el('h2', {}, `Tickets (${ts.length})`),
    table(null, ['Ticket', 'Title', 'State', 'Priority', 'Hosts', 'Updated'],
          ts.map((t) => [ticketLink(t.ticketId), t.title, badge('state', t.state, 'TICKET_STATE_'),
                         `P${t.priority}`, String((t.hosts || []).length), ago(t.updatedAt)]),
          'No tickets.'),
    el('h2', {}, `Incidents (${(incidents.incidents || []).length})`),
    table(null, ['Incident', 'What', 'Scope', 'Severity', 'Hosts', 'Opened', 'Resolved', 'Why'],
          (incidents.incidents || []).map((i) => [i.incidentId, `${i.code}${i.resource ? ' · ' + i.resource : ''}`,
            word(i.scope, 'SCOPE_'), badge('sev', i.severity, 'SEVERITY_'), (i.hosts || []).join(', ') || '—',
            ago(i.openedAt), i.resolvedAt ? ago(i.resolvedAt) : '—', (i.explanation || []).slice(-1)[0] || '']),
          'No incidents.'),
  ];
}

async function ticketPage(id) {
  const t = await api('GetTicket', {ticketId: id});
  const note = el('textarea', {id: 'ticket-note', rows: 2, cols: 50});
  const actor = el('input', {id: 'ticket-actor', value: localStorage.getItem('medicActor') || ''});
  const result = el('div', {id: 'ticket-result', role: 'status'});
  const update = async (state) => {
    localStorage.setItem('medicActor', actor.value);
    try {
      const updated = await api('UpdateTicket', {ticketId: id, state, note: note.value, actor: actor.value});
      note.value = '';
      await render();
      const r = document.getElementById('ticket-result');
      if (r) r.replaceChildren(el('p', {class: 'notice'}, `${updated.ticketId} is ${word(updated.state, 'TICKET_STATE_')}.`));
    } catch (err) {
      result.replaceChildren(errorBox(err, 'ticket-error'));
    }
  };
  const open = t.state === 'TICKET_STATE_OPEN';
  const resolved = t.state === 'TICKET_STATE_RESOLVED';
  const evidence = Object.entries(t.evidence || {});
  return [
    el('h1', {}, `${t.ticketId}: ${t.title}`),
    el('p', {}, 'State: ', el('span', {id: 'ticket-state'}, badge('state', t.state, 'TICKET_STATE_')),
       ` · priority P${t.priority} · `, badge('sev', t.severity, 'SEVERITY_'), ` · ${word(t.scope, 'SCOPE_')}`),
    el('dl', {class: 'kv'},
       el('dt', {}, 'Finding'), el('dd', {}, `${t.code}${t.resource ? ' · ' + t.resource : ''}`),
       el('dt', {}, 'Opened'), el('dd', {}, when(t.openedAt)),
       el('dt', {}, 'Updated'), el('dd', {}, when(t.updatedAt)),
       el('dt', {}, 'Incident'), el('dd', {}, t.incidentId || '—'),
       el('dt', {}, 'Helpdesk'), el('dd', {}, t.externalRef || 'not delivered')),
    el('h2', {}, 'Act on it'),
    resolved ? el('p', {class: 'muted'}, 'This ticket is resolved; it reopens by itself if the fault comes back.') :
    el('form', {class: 'inline', id: 'ticket-form', onsubmit: (e) => e.preventDefault()},
       el('label', {for: 'ticket-note'}, 'Note (needed to resolve)', note),
       el('label', {for: 'ticket-actor'}, 'Your name', actor),
       el('button', {type: 'button', id: 'ack', disabled: !open, onclick: () => update('TICKET_STATE_ACKNOWLEDGED')}, 'Acknowledge'),
       el('button', {type: 'button', id: 'resolve', class: 'secondary', onclick: () => update('TICKET_STATE_RESOLVED')}, 'Resolve')),
    result,
    el('h2', {}, `Affected hosts (${(t.hosts || []).length})`),
    el('ul', {class: 'plain', id: 'ticket-hosts'}, (t.hosts || []).map((h) => el('li', {}, hostLink(h)))),
    el('h2', {}, 'Diagnosis'),
    el('p', {}, t.diagnosis || '—'),
    el('h2', {}, 'Runbook'),
    (t.runbook || []).length ? el('ol', {class: 'runbook'}, t.runbook.map((s) => el('li', {}, s))) : el('p', {class: 'muted'}, 'No steps in the knowledge base.'),
    el('h2', {}, 'Evidence'),
    evidence.length ? el('dl', {class: 'kv'}, evidence.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])) : el('p', {class: 'muted'}, 'None.'),
    el('h2', {}, 'History'),
    table(null, ['When', 'Who', 'What'], (t.history || []).map((h) => [when(h.at), h.actor, h.what]), 'No history.'),
  ];
}

// The console signs in with the same API token as `medic`; it is kept in this browser until
// "Sign out". Signing in or out reloads the page, so the live event stream starts afresh.
function signInForm(error) {
  const token = el('input', {id: 'token', type: 'password', autocomplete: 'current-password', required: true});
  const stored = localStorage.getItem('medicToken');
  return [
    el('h1', {}, 'Sign in'),
    stored ? errorBox(error, 'sign-in-error') : null,  // the collector's reason, e.g. revoked
    el('p', {}, 'Sign in with your Medic API token; an admin makes one with ',
       el('code', {}, 'medic tokens create NAME --role technician'), '.'),
    el('form', {class: 'inline', id: 'sign-in', onsubmit: (e) => {
      e.preventDefault();
      localStorage.setItem('medicToken', token.value.trim());
      location.reload();
    }}, el('label', {for: 'token'}, 'API token', token), el('button', {type: 'submit'}, 'Sign in')),
  ];
}

function signOut() {
  localStorage.removeItem('medicToken');
  location.reload();
}

// ---- Router and live updates ---------------------------------------------------------------

let rendering = null;
let renderAgain = false;

async function render() {
  if (rendering) { renderAgain = true; return rendering; }
  rendering = (async () => {
    const main = document.getElementById('main');
    const [path] = location.hash.replace(/^#/, '').split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    let page = 'overview', content;
    try {
      if (parts[0] === 'machine' && parts[1]) { page = 'machine'; content = await machinePage(parts[1]); }
      else if (parts[0] === 'ticket' && parts[1]) { page = 'ticket'; content = await ticketPage(parts[1]); }
      else if (parts[0] === 'tickets') { page = 'tickets'; content = await ticketsPage(); }
      else content = await overviewPage();
    } catch (err) {
      content = err.status === 401 ? signInForm(err) : [el('h1', {}, 'Could not load this page'), errorBox(err, 'page-error')];
    }
    const scroll = window.scrollY;
    main.replaceChildren(...[content].flat(3).filter(Boolean));
    window.scrollTo(0, scroll);
    main.dataset.page = page;
    main.dataset.loaded = String(Date.now());
    for (const a of document.querySelectorAll('[data-nav]')) {
      const current = a.dataset.nav === page || (page === 'ticket' && a.dataset.nav === 'tickets');
      if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    document.title = `${main.querySelector('h1') ? main.querySelector('h1').textContent : 'Medic'} — Medic console`;
  })();
  try { await rendering; } finally { rendering = null; }
  if (renderAgain) { renderAgain = false; return render(); }
}

// Live refreshes skip a page the technician is typing in or running a diagnostic on.
function refresh() {
  const active = document.activeElement;
  if (active && ['INPUT', 'TEXTAREA', 'SELECT'].includes(active.tagName)) return;
  if (Object.values(diagnostics).some((d) => d.running)) return;
  render();
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 300);
}

function setLive(text) { document.getElementById('live').textContent = text; }

let pollTimer = null;
function startPolling(reason) {
  setLive(`Live updates unavailable (${reason}); refreshing every ${POLL_MS / 1000} s`);
  if (!pollTimer) pollTimer = setInterval(refresh, POLL_MS);
}

async function watch() {
  setLive('Connecting…');
  try {
    await stream('WatchEvents', {}, refreshSoon, () => {
      clearInterval(pollTimer);
      pollTimer = null;
      setLive('Live updates on');
      refreshSoon();  // whatever changed while the stream was away
    });
    startPolling('the event stream ended');
  } catch (err) {
    // Not signed in: the page shows the sign-in form, and signing in reloads it.
    if (err.status === 401) return setLive('Not signed in');
    startPolling(err.message);
  }
  // Try the stream again later; polling covers the gap.
  setTimeout(watch, 30000);
}

window.addEventListener('hashchange', () => {
  render().then(() => document.getElementById('main').focus({preventScroll: true}));
});
window.addEventListener('DOMContentLoaded', () => {
  const out = document.getElementById('sign-out');
  out.hidden = !localStorage.getItem('medicToken');
  out.addEventListener('click', signOut);
  render();
  watch();
});
