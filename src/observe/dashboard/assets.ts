/**
 * The dashboard: one page, its script and its style, served by the daemon itself (nothing from a CDN,
 * nothing fetched at run time; the CSP in http-server.ts forbids it anyway). Kept as strings so the
 * build ships them inside dist/. The script reads the JSON API (/api/summary, /api/bans,
 * /api/incidents), refreshes on Server-Sent Events (/api/events) and every few seconds, and draws the
 * incidents-per-minute chart as SVG. The token for actions comes from the page's #token=… fragment or
 * the field on the page, and stays in sessionStorage; it is sent only in the Authorization header.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>portwarden</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>portwarden</h1>
  <span id="meta"></span>
  <span id="health" class="badge">…</span>
  <form id="token-form">
    <input id="token" type="password" placeholder="token for actions" autocomplete="off">
    <button type="submit">Use token</button>
    <span id="token-state"></span>
  </form>
</header>
<main>
  <section class="wide">
    <h2>Incidents per minute (last hour)</h2>
    <svg id="chart" viewBox="0 0 720 160" role="img" aria-label="incidents per minute"></svg>
  </section>
  <section>
    <h2>Active bans <span id="ban-count"></span></h2>
    <p id="action-message" role="status"></p>
    <table id="bans"><thead><tr><th>target</th><th>time left</th><th>origin</th><th>reason</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Top offenders</h2>
    <table id="offenders"><thead><tr><th>source</th><th>incidents</th><th>last seen</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Probe classes</h2>
    <div id="classes"></div>
  </section>
  <section>
    <h2>Health</h2>
    <table id="checks"><tbody></tbody></table>
    <table id="counters"><tbody></tbody></table>
  </section>
  <section class="wide">
    <h2>Live incidents</h2>
    <table id="incidents"><thead><tr><th>time</th><th>kind</th><th>class</th><th>source</th><th>destination</th><th>probes</th><th>decision</th><th>reason</th></tr></thead><tbody></tbody></table>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { --bg: #0f1419; --panel: #1a2129; --text: #d8dee4; --muted: #8b98a5; --accent: #e0823d; --ok: #3fb950; --bad: #f85149; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1em; background: var(--panel); }
h1 { font-size: 1.2em; margin: 0; color: var(--accent); }
h2 { font-size: 1em; margin: 0 0 .5em; color: var(--muted); font-weight: 600; }
#meta { color: var(--muted); }
#token-form { margin-left: auto; display: flex; gap: .4em; align-items: center; }
input, button { font: inherit; background: var(--bg); color: var(--text); border: 1px solid #333d48; border-radius: 4px; padding: .2em .5em; }
button { cursor: pointer; }
button.unban:hover { border-color: var(--bad); color: var(--bad); }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1em; padding: 1em; }
section { background: var(--panel); border-radius: 6px; padding: .8em; overflow: auto; }
section.wide { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .15em .5em; border-bottom: 1px solid #26303a; white-space: nowrap; }
td.reason { white-space: normal; color: var(--muted); }
.badge { padding: .1em .6em; border-radius: 1em; font-weight: 600; }
.badge.ready { background: var(--ok); color: #000; }
.badge.unready { background: var(--bad); color: #000; }
.bar { display: flex; align-items: center; gap: .5em; margin: .15em 0; }
.bar span:first-child { width: 5em; color: var(--muted); }
.bar .fill { height: .8em; background: var(--accent); border-radius: 2px; min-width: 1px; }
svg rect { fill: var(--accent); }
svg text { fill: var(--muted); font-size: 10px; }
svg line { stroke: #333d48; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
`;

export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var SVGNS = 'http://www.w3.org/2000/svg';
  var bans = [];
  var bansFetchedAt = 0;
  var refreshTimer = null;

  function $(sel) { return document.querySelector(sel); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el('td', c)); });
    return tr;
  }
  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function token() { return sessionStorage.getItem('portwarden.token') || ''; }
  function showTokenState() { $('#token-state').textContent = token() ? 'token set' : 'no token: read only'; }
  function duration(s) {
    if (s === null) return 'no expiry';
    if (s <= 0) return 'expiring';
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + sec + 's';
  }
  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) { return r.json(); });
  }

  function renderBans() {
    var elapsed = (Date.now() - bansFetchedAt) / 1000;
    $('#ban-count').textContent = '(' + bans.length + ')';
    fill($('#bans tbody'), bans.map(function (b) {
      var button = el('button', 'Unban', 'unban');
      button.type = 'button';
      button.setAttribute('data-target', b.target);
      button.addEventListener('click', function () { unban(b.target); });
      var actions = el('td'); actions.appendChild(button);
      var left = b.expiresInSeconds === null ? null : Math.max(0, b.expiresInSeconds - elapsed);
      var tr = row([b.target, duration(left), b.origin, el('td', b.reason, 'reason'), actions]);
      tr.setAttribute('data-target', b.target);
      return tr;
    }));
  }

  function unban(target) {
    var message = $('#action-message');
    if (!token()) { message.textContent = 'Unban needs the token (see the dashboard.token file in the state directory).'; return; }
    fetch('/api/unban', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token() }, body: JSON.stringify({ target: target }) })
      .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
      .then(function (r) {
        message.textContent = r.status === 200 ? 'unbanned ' + target : 'unban refused (' + r.status + '): ' + r.body.error;
        refresh();
      })
      .catch(function (e) { message.textContent = 'unban failed: ' + e; });
  }

  function renderChart(perMinute) {
    var svg = $('#chart');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 720, H = 160, left = 30, bottom = 20, top = 10;
    var max = Math.max(1, Math.max.apply(null, perMinute.map(function (p) { return p.count; })));
    var bw = (W - left) / Math.max(1, perMinute.length);
    function add(tag, attrs, text) {
      var n = document.createElementNS(SVGNS, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
      if (text !== undefined) n.textContent = text;
      svg.appendChild(n);
      return n;
    }
    add('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom });
    add('text', { x: 2, y: top + 8 }, String(max));
    add('text', { x: 2, y: H - bottom }, '0');
    perMinute.forEach(function (p, i) {
      var h = (p.count / max) * (H - bottom - top);
      var r = add('rect', { x: left + i * bw + 1, y: H - bottom - h, width: Math.max(1, bw - 2), height: h });
      r.setAttribute('data-count', String(p.count));
      var title = document.createElementNS(SVGNS, 'title');
      title.textContent = p.minute.slice(11, 16) + ': ' + p.count;
      r.appendChild(title);
      if (i % 10 === 0) add('text', { x: left + i * bw, y: H - 5 }, p.minute.slice(11, 16));
    });
  }

  function render(summary, incidents) {
    $('#meta').textContent = 'v' + summary.version + ' · profile ' + summary.profile + ' · ' + summary.backend + (summary.dryRun ? ' (dry run)' : '') + ' · since ' + summary.startedAt.slice(0, 19).replace('T', ' ') + ' · ' + summary.incidents + ' incidents';
    var health = $('#health');
    health.textContent = summary.health.status;
    health.className = 'badge ' + summary.health.status;
    var checks = summary.health.checks;
    fill($('#checks tbody'), Object.keys(checks).map(function (k) {
      return row([k, el('td', checks[k].ok ? 'ok' : 'failing', checks[k].ok ? 'ok' : 'bad'), el('td', checks[k].detail, 'reason')]);
    }));
    var c = summary.counters;
    fill($('#counters tbody'), ['packets.seen', 'probes.first_contact', 'capture.delivered', 'capture.lost', 'reconcile.repairs'].map(function (k) { return row([k, c[k] === undefined ? 0 : c[k]]); }));
    renderChart(summary.perMinute);
    fill($('#offenders tbody'), summary.topOffenders.map(function (o) { return row([o.source, o.incidents, o.lastSeen.slice(11, 19)]); }));
    var classes = summary.probesByClass;
    var max = Math.max(1, Math.max.apply(null, Object.keys(classes).map(function (k) { return classes[k]; })));
    var box = $('#classes');
    while (box.firstChild) box.removeChild(box.firstChild);
    Object.keys(classes).forEach(function (k) {
      var line = el('div', null, 'bar');
      line.setAttribute('data-class', k);
      line.appendChild(el('span', k));
      var bar = el('span', null, 'fill');
      bar.style.width = (200 * classes[k] / max) + 'px';
      line.appendChild(bar);
      line.appendChild(el('span', classes[k]));
      box.appendChild(line);
    });
    fill($('#incidents tbody'), incidents.map(function (e) {
      var r = e.record;
      var source = r['source.ip'] || (r.sources ? r.sources.slice(0, 3).join(', ') + (r.sources.length > 3 ? ' …' : '') : '');
      var tr = row([e.at.slice(11, 19), r.kind, r['class'], source, r['destination.ip'] || '', r.probes, e.decision, el('td', e.reason, 'reason')]);
      tr.setAttribute('data-source', r['source.ip'] || '');
      return tr;
    }));
  }

  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    return Promise.all([getJson('/api/summary'), getJson('/api/incidents?limit=50'), getJson('/api/bans')])
      .then(function (r) {
        bans = r[2];
        bansFetchedAt = Date.now();
        render(r[0], r[1]);
        renderBans();
        document.body.setAttribute('data-loaded', String(bansFetchedAt));
      })
      .catch(function (e) { $('#meta').textContent = 'daemon unreachable: ' + e; });
  }
  function soon() { if (refreshTimer === null) refreshTimer = setTimeout(refresh, 250); }

  var hash = /[#&]token=([^&]+)/.exec(location.hash);
  if (hash) {
    sessionStorage.setItem('portwarden.token', decodeURIComponent(hash[1]));
    history.replaceState(null, '', location.pathname);
  }
  $('#token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    sessionStorage.setItem('portwarden.token', $('#token').value.trim());
    $('#token').value = '';
    showTokenState();
  });
  showTokenState();
  if (window.EventSource) {
    var events = new EventSource('/api/events');
    ['incident', 'ban', 'unban'].forEach(function (name) { events.addEventListener(name, soon); });
  }
  refresh();
  setInterval(refresh, 5000);
  setInterval(renderBans, 1000);
})();
`;
