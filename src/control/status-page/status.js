// vtepd's status page: reads /api/status once a second and draws it, with
// hand-written SVG (no library, nothing fetched from anywhere but vtepd).
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
/** Seconds without a packet from a remote after which its edge is drawn as silent. */
const SILENT_S = 10;
/** MAC rows drawn at most (the search narrows them). */
const MAC_ROWS = 500;

const $ = (id) => document.getElementById(id);
let search = '';
let latest;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/** 1234567 -> "1.23 M" (SI prefixes, as link rates are written). */
function si(v) {
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(v >= 10 ? 1 : 2)} ${units[i]}`.trim();
}

function duration(s) {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const lastOf = (xs) => (xs && xs.length > 0 ? xs[xs.length - 1] : 0);

/** Replaces a table body's rows; a cell is text, or { text, cls, title }. */
function fill(tbody, rows) {
  tbody.replaceChildren(
    ...rows.map((cells) => {
      const tr = el('tr');
      for (const c of cells) {
        const cell = c !== null && typeof c === 'object' ? c : { text: c };
        const td = el('td', cell.cls ? { class: cell.cls } : {}, cell.text ?? '');
        if (cell.title) td.title = cell.title;
        if (cell.data) for (const [k, v] of Object.entries(cell.data)) td.dataset[k] = String(v);
        tr.append(td);
      }
      return tr;
    }),
  );
}

/** Whether a remote sent nothing for SILENT_S seconds (it has been watched that long). */
function silent(history) {
  if (!history || history.rxPps.length < SILENT_S) return false;
  return history.rxPps.slice(-SILENT_S).every((v) => v === 0);
}

/** A remote's state on one network, as its edge shows it. */
function edgeState(r, history, evpnDown) {
  if (evpnDown && r.origins.includes('evpn')) return 'down';
  if (silent(history)) return 'silent';
  if (r['pmtu-learned']) return 'pmtu';
  return r.flood ? 'flood' : 'sender';
}

function drawFabric(s) {
  const fabric = $('fabric');
  const rates = s.rates.remotes;
  const evpnDown = s.evpn !== null && s.evpn.sessions.some((x) => x.state !== 'established');
  const byRemote = new Map();
  for (const r of s.remotes) {
    if (!byRemote.has(r.remote)) byRemote.set(r.remote, []);
    byRemote.get(r.remote).push(r);
  }
  const remotes = [...byRemote.keys()].sort();
  const nodes = [];
  const edges = [];
  remotes.forEach((addr, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, remotes.length);
    const x = Math.round(320 * Math.cos(angle));
    const y = Math.round(200 * Math.sin(angle));
    const rows = byRemote.get(addr);
    rows.forEach((r, k) => {
      const history = rates[`${r.network} ${addr}`];
      const bps = lastOf(history?.rxBps) + lastOf(history?.txBps);
      const state = edgeState(r, history, evpnDown);
      // Several networks to one VTEP: side by side, bent apart.
      const bend = (k - (rows.length - 1) / 2) * 60;
      const len = Math.hypot(x, y) || 1;
      const cx = x / 2 + (-y / len) * bend;
      const cy = y / 2 + (x / len) * bend;
      const path = svg('path', {
        class: `edge ${state}`,
        d: `M 0 0 Q ${cx} ${cy} ${x} ${y}`,
        'stroke-width': (1.5 + Math.max(0, Math.log10(1 + bps) - 3) * 1.6).toFixed(1),
        'data-remote': addr,
        'data-network': r.network,
        'data-state': state,
        'data-bps': Math.round(bps),
      });
      path.append(
        svg(
          'title',
          {},
          `${r.network} -> ${addr}: ${state}, ${r.macs} MAC${r.macs === 1 ? '' : 's'}, ` +
            `${si(bps)}bit/s, path MTU ${r.pmtu}, origins ${r.origins.join(',') || 'none'}`,
        ),
      );
      edges.push(path);
      edges.push(svg('text', { class: 'edge-label', x: cx * 0.9, y: cy * 0.9 }, r.network));
    });
    const node = svg('g', { class: 'node', 'data-remote': addr, transform: `translate(${x} ${y})` });
    const macs = rows.map((r) => `${r.network}: ${r.macs} MAC${r.macs === 1 ? '' : 's'}`).join('\n');
    node.append(svg('title', {}, `${addr}\n${macs}`), svg('circle', { r: 34 }), svg('text', {}, addr));
    nodes.push(node);
  });
  const self = svg('g', { class: 'node self' });
  self.append(svg('title', {}, `this VTEP, ${s.local}`), svg('circle', { r: 44 }), svg('text', {}, s.local));
  fabric.replaceChildren(...edges, ...nodes, self);
  if (remotes.length === 0) fabric.append(svg('text', { y: 80 }, 'no remote VTEP yet'));
}

/** A graph of bit rates over the last five minutes: rx and tx, scaled to their largest. */
function rateGraph(title, history, width = 300, height = 70) {
  const box = el('div', { class: 'graph' });
  const rx = history?.rxBps ?? [];
  const tx = history?.txBps ?? [];
  const max = Math.max(1, ...rx, ...tx);
  const g = svg('svg', { width, height: height + 14, viewBox: `0 0 ${width} ${height + 14}` });
  // The last five minutes once there are five; until then at least the last minute, filled from the right.
  const span = Math.max(60, rx.length, tx.length);
  const line = (xs) =>
    xs.map(
      (v, i) =>
        `${((width * (span - xs.length + i)) / (span - 1)).toFixed(1)},${(height - (v / max) * height).toFixed(1)}`,
    );
  g.append(svg('line', { class: 'axis', x1: 0, y1: height, x2: width, y2: height }));
  if (rx.length > 1) g.append(svg('polyline', { class: 'rx', points: line(rx).join(' ') }));
  if (tx.length > 1) g.append(svg('polyline', { class: 'tx', points: line(tx).join(' ') }));
  g.append(svg('text', { x: 0, y: height + 12 }, `last ${duration(span)} · max ${si(max)}bit/s · rx blue, tx orange`));
  box.append(el('div', {}, title), g);
  return box;
}

/** A small line of a remote's rx + tx bit rate. */
function sparkline(history) {
  const xs = (history?.rxBps ?? []).map((v, i) => v + (history.txBps[i] ?? 0));
  const max = Math.max(1, ...xs);
  const s = svg('svg', { class: 'spark', width: 120, height: 20 });
  const span = Math.max(60, xs.length);
  if (xs.length > 1)
    s.append(
      svg('polyline', {
        stroke: 'currentColor',
        points: xs
          .map(
            (v, i) => `${((120 * (span - xs.length + i)) / (span - 1)).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`,
          )
          .join(' '),
      }),
    );
  return s;
}

function drawNetworks(s) {
  const rows = Object.entries(s.stats.networks).map(([name, n]) => {
    const h = s.rates.networks[name];
    const drops = Object.entries(n.drops).filter(([, v]) => v > 0);
    const dropCell = {
      text: drops.length === 0 ? 'none' : drops.map(([k, v]) => `${k} ${v}`).join(', '),
      cls: drops.length === 0 ? 'drop' : 'drop hot',
    };
    return [
      name,
      `${n.encap} ${n.encap === 'gre' ? 'key' : 'vni'} ${n.id}`,
      n.tap,
      n.state,
      { text: si(lastOf(h?.rxPps)), cls: 'num', data: { rxPps: lastOf(h?.rxPps) } },
      { text: si(lastOf(h?.rxBps)), cls: 'num', data: { rxBps: lastOf(h?.rxBps) } },
      { text: si(lastOf(h?.txPps)), cls: 'num', data: { txPps: lastOf(h?.txPps) } },
      { text: si(lastOf(h?.txBps)), cls: 'num', data: { txBps: lastOf(h?.txBps) } },
      { text: n.macs.entries, cls: 'num' },
      dropCell,
    ];
  });
  fill($('networks').tBodies[0], rows);
  $('network-graphs').replaceChildren(
    ...Object.keys(s.stats.networks).map((name) => rateGraph(`network ${name}`, s.rates.networks[name])),
  );
}

function drawRemotes(s) {
  const tbody = $('remotes').tBodies[0];
  fill(
    tbody,
    s.remotes.map((r) => {
      const h = s.rates.remotes[`${r.network} ${r.remote}`];
      return [
        r.remote,
        r.network,
        r.flood ? 'yes' : 'no (sender only)',
        r.origins.join(',') || 'none',
        { text: r.macs, cls: 'num' },
        { text: `${r.pmtu}${r['pmtu-learned'] ? ' (lowered)' : ''}`, cls: 'num' },
        { text: si(lastOf(h?.rxBps)), cls: 'num' },
        { text: si(lastOf(h?.txBps)), cls: 'num' },
        '',
      ];
    }),
  );
  [...tbody.rows].forEach((tr, i) => {
    const r = s.remotes[i];
    tr.cells[8].append(sparkline(s.rates.remotes[`${r.network} ${r.remote}`]));
  });
}

function drawMacs(s) {
  const q = search.trim().toLowerCase();
  const match = (r) =>
    q === '' || [r.mac, r.network, r.remote ?? 'local', r.origin].some((f) => f.toLowerCase().includes(q));
  const found = s.fdb.filter(match);
  fill(
    $('macs').tBodies[0],
    found.slice(0, MAC_ROWS).map((r) => [r.mac, r.network, r.remote ?? 'local', r.origin, { text: r.age, cls: 'num' }]),
  );
  const of = s.fdbTotal > s.fdb.length ? ` (the first ${s.fdb.length} of ${s.fdbTotal} are searched)` : '';
  $('mac-count').textContent =
    `${found.length} of ${s.fdbTotal} MACs${q ? ` match "${search.trim()}"` : ''}` +
    `${found.length > MAC_ROWS ? `, the first ${MAC_ROWS} shown` : ''}${of}`;
}

function drawNeigh(s) {
  fill(
    $('neigh').tBodies[0],
    s.neigh
      .slice(0, MAC_ROWS)
      .map((r) => [r.ip, r.mac ?? r.state ?? '', r.network, r.origin, { text: r.age, cls: 'num' }]),
  );
}

function drawEvpn(s) {
  const on = s.evpn !== null;
  $('evpn-none').hidden = on;
  $('evpn-sessions').hidden = !on;
  $('evpn-networks').hidden = !on;
  if (!on) return;
  const now = Date.now() / 1000;
  fill(
    $('evpn-sessions').tBodies[0],
    s.evpn.sessions.map((p) => [
      p.neighbor,
      p['peer-as'] ?? '',
      { text: p.state, cls: p.state === 'established' ? '' : 'drop hot' },
      p.since ? `${duration(now - p.since)} ago` : 'never',
      { text: p.flaps ?? 0, cls: 'num' },
      p['hold-time'] ? `${p['hold-time']} s` : '',
      { text: p.received, cls: 'num', title: `and ${p['own-reflected'] ?? 0} of our own reflected back` },
      { text: p.accepted, cls: 'num' },
      s.evpn['last-error'] ?? 'none',
    ]),
  );
  fill(
    $('evpn-networks').tBodies[0],
    Object.entries(s.evpn.networks).map(([name, n]) => [
      name,
      n.vni,
      n.rd,
      `${n.advertised['type-2']} / ${n.advertised['type-3']}`,
      `${n.received['type-2']} / ${n.received['type-3']}`,
    ]),
  );
}

function draw(s) {
  $('local').textContent = s.local;
  const pauses = s.stats['busy-poll'];
  $('about').textContent =
    `version ${s.version} · pid ${s.pid} · runs as ${s.user} · up ${duration(s.uptime)}` +
    (pauses ? ` · busy-poll pauses: ${pauses['paused-contended']} contended, ${pauses['paused-idle']} idle` : '');
  drawFabric(s);
  drawNetworks(s);
  drawRemotes(s);
  drawMacs(s);
  drawNeigh(s);
  drawEvpn(s);
  document.body.dataset.updated = String(Date.now());
}

async function refresh() {
  try {
    const res = await fetch('api/status', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    latest = await res.json();
    $('error').hidden = true;
    draw(latest);
  } catch (e) {
    $('error').hidden = false;
    $('error').textContent = `vtepd does not answer (${e.message}); trying again every second`;
  }
  setTimeout(refresh, 1000);
}

$('mac-search').addEventListener('input', (e) => {
  search = e.target.value;
  if (latest) drawMacs(latest);
});
refresh();
