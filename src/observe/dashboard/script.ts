/**
 * The dashboard's script (plain ES5-style JavaScript, served as /dashboard.js). It reads the JSON API with
 * the token in the Authorization header when one is set (the reads need it unless observe.publicRead),
 * refreshes on Server-Sent Events (/api/events) and every 5 s, counts the bans' time left down every second,
 * and draws the incident timeline and the per-address chart as SVG sized to their card in pixels (crisp text
 * at any width). Durations and moments go through the very functions the CLI and logs use
 * (src/model/duration.ts), copied in from their source, so the page and `portwarden bans` say the same.
 */
import { humanDuration, UNITS, utcMinute } from '../../model/duration.js';

const SHARED = `var UNITS = ${JSON.stringify(UNITS)};
${String(humanDuration)}
${String(utcMinute)}
`;

const PAGE = String.raw`
  var SVGNS = 'http://www.w3.org/2000/svg';
  var KIND_COLOURS = ['#e0823d', '#79b8ff', '#d2a8ff', '#3fb950', '#f85149', '#e3b341', '#56d4dd'];
  var ORIGIN_COLOURS = { detection: '#e0823d', operator: '#d2a8ff', config: '#8b98a5' };
  var kindColour = {};
  var bans = [];
  var bansMatched = 0;
  var bansTotal = 0;
  var bansFetchedAt = 0;
  var refreshTimer = null;
  var currentAddress = null;

  function $(sel) { return document.querySelector(sel); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function cell(content, cls, title) {
    var td = content instanceof Node ? document.createElement('td') : el('td', content, cls);
    if (content instanceof Node) { td.appendChild(content); if (cls) td.className = cls; }
    td.title = title || (content instanceof Node ? content.textContent : String(content === null || content === undefined ? '' : content));
    return td;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) { tr.appendChild(c instanceof Node && c.tagName === 'TD' ? c : cell(c)); });
    return tr;
  }
  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function addressLink(address) {
    var a = el('a', address, 'address');
    a.href = '#address=' + encodeURIComponent(address);
    a.setAttribute('data-address', address);
    return a;
  }
  // Country and AS of a source ({country, asn, asOrganization}, each optional), or null: nothing shown.
  function geoText(g) {
    if (!g) return '';
    var as = g.asn !== undefined ? 'AS' + g.asn + (g.asOrganization ? ' ' + g.asOrganization : '') : (g.asOrganization || '');
    return [g.country || '', as].filter(function (p) { return p; }).join(' · ');
  }
  function recordGeo(r) {
    var g = {};
    if (r['source.geo.country_iso_code'] !== undefined) g.country = r['source.geo.country_iso_code'];
    if (r['source.as.number'] !== undefined) g.asn = r['source.as.number'];
    if (r['source.as.organization.name'] !== undefined) g.asOrganization = r['source.as.organization.name'];
    return Object.keys(g).length ? g : null;
  }
  function geoSpan(g) {
    var s = el('span', geoText(g), 'geo');
    if (g.country) s.setAttribute('data-country', g.country);
    if (g.asn !== undefined) s.setAttribute('data-asn', String(g.asn));
    return s;
  }
  // An address (a link, or text) with its country and AS on a second line when known.
  function withGeo(node, g) {
    if (!g || !geoText(g)) return node;
    var box = el('span');
    box.appendChild(node);
    box.appendChild(geoSpan(g));
    return box;
  }
  function colourOf(kind) {
    if (!kindColour[kind]) kindColour[kind] = KIND_COLOURS[Object.keys(kindColour).length % KIND_COLOURS.length];
    return kindColour[kind];
  }
  function ms(iso) { return iso === null || iso === undefined ? null : Date.parse(iso); }
  function shortTime(t) { return new Date(t).toISOString().slice(5, 16).replace('T', ' '); }

  function token() { return sessionStorage.getItem('portwarden.token') || ''; }
  function showTokenState() { $('#token-state').textContent = token() ? 'token set' : 'no token'; }
  function headers(extra) {
    var h = extra || {};
    if (token()) h.authorization = 'Bearer ' + token();
    return h;
  }
  function getJson(path) {
    return fetch(path, { cache: 'no-store', headers: headers() }).then(function (r) {
      return r.json().then(function (body) {
        if (r.status === 401) { var e = new Error(body.error); e.status = 401; throw e; }
        if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
        return body;
      });
    });
  }
  function post(path, body) {
    return fetch(path, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); });
  }

  // "1h", "4d 5h", "90s", "2w", "permanent" → seconds (null: permanent); NaN when unreadable.
  function parseFor(text) {
    var t = text.trim().toLowerCase();
    if (t === 'permanent' || t === 'forever') return null;
    var units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    var total = 0, seen = false, re = /(\d+)\s*([smhdwy])/g, m, rest = t;
    while ((m = re.exec(t)) !== null) { total += Number(m[1]) * units[m[2]]; seen = true; }
    rest = t.replace(re, '').trim();
    if (/^\d+$/.test(t)) return Number(t);
    return seen && rest === '' && total > 0 ? total : NaN;
  }

  // ---- bans ----
  function banFilterQuery() {
    var q = [];
    var origin = $('#filter-origin').value, reason = $('#filter-reason').value.trim(), contains = $('#filter-contains').value.trim();
    if (origin) q.push('origin=' + encodeURIComponent(origin));
    if (reason) q.push('reason=' + encodeURIComponent(reason));
    if (contains) q.push('contains=' + encodeURIComponent(contains));
    return q.length ? '?' + q.join('&') : '';
  }
  function renderBans() {
    var elapsed = (Date.now() - bansFetchedAt) / 1000;
    $('#ban-count').textContent = bansMatched === bansTotal ? '(' + bansTotal + ')' : '(' + bansMatched + ' of ' + bansTotal + ')';
    $('#bans-more').textContent = bans.length < bansMatched ? 'showing ' + bans.length + ' of ' + bansMatched + ': narrow the filters to see the others' : '';
    fill($('#bans tbody'), bans.map(function (b) {
      var button = el('button', 'Unban', 'unban');
      button.type = 'button';
      button.setAttribute('data-target', b.target);
      button.addEventListener('click', function () { unban(b.target); });
      var left = b.expiresInSeconds === null ? null : Math.max(0, b.expiresInSeconds - elapsed);
      var length = b.expiresInSeconds === null ? 'permanent' : b.lengthSeconds === null ? '?' : humanDuration(b.lengthSeconds);
      var tr = row([
        cell(withGeo(addressLink(b.target), b.geo), '', b.target + (b.geo ? ' (' + geoText(b.geo) + ')' : '')),
        cell(b.origin),
        cell(b.reason, 'reason'),
        cell(b.created === null ? '?' : utcMinute(ms(b.created)), 'created'),
        cell(length, 'length', b.durationWhy || (b.lengthSeconds === null ? 'made before this state database knew it' : length)),
        cell(b.expires === null ? 'never' : utcMinute(ms(b.expires)), 'expires'),
        cell(humanDuration(left), 'left'),
        cell(button, 'action'),
      ]);
      tr.setAttribute('data-target', b.target);
      return tr;
    }));
  }
  function loadBans() {
    return getJson('/api/bans' + banFilterQuery()).then(function (r) {
      bans = r.bans; bansMatched = r.matched; bansTotal = r.total; bansFetchedAt = Date.now();
      renderBans();
    });
  }

  function act(what, path, body, done) {
    var message = $('#action-message');
    if (!token()) { message.textContent = what + ' needs the token (the dashboard.token file in the state directory, or observe.token).'; return; }
    post(path, body).then(function (r) {
      message.textContent = r.status === 200 ? done(r.body) : what + ' refused (' + r.status + '): ' + r.body.error;
      refresh();
    }).catch(function (e) { message.textContent = what + ' failed: ' + e; });
  }
  function unban(target) {
    act('Unban', '/api/unban', { target: target }, function (b) { return b.removed ? 'unbanned ' + target : target + ' was not banned'; });
  }

  // ---- incident timeline ----
  function renderTimeline(t) {
    var svg = $('#timeline');
    clear(svg);
    var W = Math.max(300, Math.round(svg.getBoundingClientRect().width) || 1000), H = 170, left = 34, bottom = 20, top = 8;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    function add(tag, attrs, text) {
      var n = document.createElementNS(SVGNS, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
      if (text !== undefined) n.textContent = text;
      svg.appendChild(n);
      return n;
    }
    var totals = t.buckets.map(function (b) { return Object.keys(b.counts).reduce(function (s, k) { return s + b.counts[k]; }, 0); });
    var max = Math.max(1, Math.max.apply(null, totals));
    var bw = (W - left) / Math.max(1, t.buckets.length);
    add('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom });
    add('text', { x: 2, y: top + 9 }, String(max));
    add('text', { x: 2, y: H - bottom }, '0');
    var labelEvery = Math.max(1, Math.ceil(t.buckets.length / Math.max(2, Math.floor((W - left) / 90))));
    t.buckets.forEach(function (b, i) {
      var y = H - bottom;
      var g = add('g', { 'data-start': b.start, 'data-count': totals[i], 'class': 'bucket' });
      t.kinds.forEach(function (kind) {
        var n = b.counts[kind] || 0;
        if (!n) return;
        var h = (n / max) * (H - bottom - top);
        y -= h;
        var r = document.createElementNS(SVGNS, 'rect');
        [['x', left + i * bw + 1], ['y', y], ['width', Math.max(1, bw - 2)], ['height', h], ['fill', colourOf(kind)], ['data-kind', kind], ['data-count', n]].forEach(function (a) { r.setAttribute(a[0], String(a[1])); });
        var title = document.createElementNS(SVGNS, 'title');
        title.textContent = utcMinute(ms(b.start)) + ': ' + n + ' ' + kind;
        r.appendChild(title);
        g.appendChild(r);
      });
      if (i % labelEvery === 0) add('text', { x: left + i * bw, y: H - 5 }, t.bucketSeconds >= 3600 ? shortTime(ms(b.start)) : b.start.slice(11, 16));
    });
    var legend = $('#timeline-legend');
    clear(legend);
    t.kinds.forEach(function (kind) {
      var s = el('span', null, 'kind');
      s.setAttribute('data-kind', kind);
      var sw = el('i'); sw.style.background = colourOf(kind);
      s.appendChild(sw);
      s.appendChild(document.createTextNode(kind));
      legend.appendChild(s);
    });
    $('#timeline-note').textContent = 'buckets of ' + humanDuration(t.bucketSeconds) + (t.oldest ? '; the dashboard keeps the newest incidents in memory, the oldest from ' + utcMinute(ms(t.oldest)) : '; no incidents yet');
  }

  // ---- per-address view ----
  function renderAddress(h) {
    $('#address-card').hidden = false;
    $('#address-name').textContent = h.address;
    $('#address-card').setAttribute('data-address', h.address);
    // The newest incident's (or ban's) country and AS stand for the address's.
    // Both lists are oldest first: the last incident with one, else the last ban with one.
    var known = h.bans.concat(h.incidents).map(function (x) { return x.geo; }).filter(function (g) { return g; });
    var geoBox = $('#address-geo');
    clear(geoBox);
    if (known.length) geoBox.appendChild(geoSpan(known[known.length - 1]));
    var o = h.offender;
    $('#address-summary').textContent = o === null ? 'no offences recorded' :
      o.offences + ' offence(s), first ' + utcMinute(ms(o.firstSeen)) + ', last ' + utcMinute(ms(o.lastSeen)) +
      ', reputation ' + (o.scoreNow === null ? o.score.toFixed(2) + ' at the last' : o.scoreNow.toFixed(2) + ' now');
    fill($('#address-incidents tbody'), h.incidents.slice().reverse().map(function (i) {
      return row([cell(utcMinute(ms(i.at)), 'time'), cell(i.kind), cell(i['class']), cell(i.destination || ''), cell(i.probes), cell(i.decision), cell(i.reason, 'reason')]);
    }));
    fill($('#address-bans tbody'), h.bans.slice().reverse().map(function (b) {
      var ended = b.active ? 'active' : b.lifted !== null ? 'lifted ' + utcMinute(ms(b.lifted)) : utcMinute(ms(b.expires));
      var tr = row([cell(utcMinute(ms(b.created)), 'time'), cell(b.origin), cell(humanDuration(b.lengthSeconds)), cell(ended, 'time'), cell(b.durationWhy || b.reason, 'reason')]);
      tr.setAttribute('data-active', String(b.active));
      return tr;
    }));
    renderAddressChart(h);
  }

  function renderAddressChart(h) {
    var svg = $('#address-chart');
    clear(svg);
    var W = Math.max(300, Math.round(svg.getBoundingClientRect().width) || 1000), H = 300, left = 84, right = 10;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    function add(tag, attrs, text, parent) {
      var n = document.createElementNS(SVGNS, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
      if (text !== undefined && text !== null) {
        if (tag === 'text') n.textContent = text;
        else { var t = document.createElementNS(SVGNS, 'title'); t.textContent = text; n.appendChild(t); }
      }
      (parent || svg).appendChild(n);
      return n;
    }
    var now = ms(h.now);
    var times = [];
    h.incidents.forEach(function (i) { times.push(ms(i.at)); });
    h.bans.forEach(function (b) { times.push(ms(b.created)); });
    h.reputation.forEach(function (p) { times.push(ms(p.at)); });
    // From the first event to a little past now (active bans go on), padded so nothing sits on an edge.
    var first = times.length ? Math.min.apply(null, times) : now - 3600000;
    var pad = Math.max((now - first) * 0.05, 60000);
    var t0 = first - pad, t1 = now + pad;
    function x(t) { return left + ((Math.min(t1, Math.max(t0, t)) - t0) / (t1 - t0)) * (W - left - right); }
    var lanes = { incidents: [10, 50], bans: [62, 96], reputation: [112, 270] };
    add('text', { x: 4, y: 34 }, 'incidents');
    add('text', { x: 4, y: 83 }, 'bans');
    add('text', { x: 4, y: 160 }, 'reputation');
    add('text', { x: 4, y: 176 }, '(• offence)');
    Object.keys(lanes).forEach(function (k) { add('line', { x1: left, y1: lanes[k][1], x2: W - right, y2: lanes[k][1] }); });
    // Incidents: one tick each, coloured by kind.
    h.incidents.forEach(function (i) {
      add('rect', { x: x(ms(i.at)) - 1, y: lanes.incidents[0], width: 3, height: lanes.incidents[1] - lanes.incidents[0], fill: colourOf(i.kind), 'class': 'incident', 'data-kind': i.kind },
        utcMinute(ms(i.at)) + ': ' + i.kind + '/' + i['class'] + ', ' + i.probes + ' probes, ' + i.decision);
    });
    // Bans: a bar from creation to their end (lifted, expired, or on past now when still active).
    h.bans.forEach(function (b) {
      var end = b.lifted !== null ? ms(b.lifted) : b.expires === null ? t1 : Math.min(t1, ms(b.expires));
      var x0 = x(ms(b.created)), x1 = Math.max(x0 + 3, x(end));
      add('rect', { x: x0, y: lanes.bans[0], width: x1 - x0, height: lanes.bans[1] - lanes.bans[0], fill: ORIGIN_COLOURS[b.origin] || '#8b98a5', opacity: b.active ? 1 : 0.55, 'class': 'ban', 'data-active': String(b.active) },
        b.origin + ' ban ' + utcMinute(ms(b.created)) + ', ' + humanDuration(b.lengthSeconds) + (b.active ? ', active' : '') + (b.durationWhy ? ': ' + b.durationWhy : ''));
    });
    // Reputation: the score after each offence (dots) and its decay between them (the line).
    var rep = h.reputation;
    var maxScore = Math.max(1, Math.max.apply(null, rep.map(function (p) { return p.score; }).concat([0])));
    function y(s) { return lanes.reputation[1] - (s / maxScore) * (lanes.reputation[1] - lanes.reputation[0]); }
    add('text', { x: left - 30, y: lanes.reputation[0] + 10 }, maxScore.toFixed(1));
    add('text', { x: left - 14, y: lanes.reputation[1] }, '0');
    if (rep.length) {
      var d = rep.map(function (p, i) {
        var px = x(ms(p.at)).toFixed(1), py = y(p.score).toFixed(1);
        // A vertical jump at each offence: the score rises by 1 at once.
        if (i > 0 && p.offence) return 'L' + px + ' ' + y(rep[i - 1].score).toFixed(1) + ' L' + px + ' ' + py;
        return (i === 0 ? 'M' : 'L') + px + ' ' + py;
      }).join(' ');
      add('path', { d: d, 'class': 'reputation' });
      rep.forEach(function (p) {
        if (p.offence) add('circle', { cx: x(ms(p.at)), cy: y(p.score), r: 4, 'class': 'offence', 'data-score': p.score }, utcMinute(ms(p.at)) + ': offence, reputation ' + p.score.toFixed(2));
      });
    }
    add('line', { x1: left, y1: H - 22, x2: W - right, y2: H - 22 });
    add('line', { x1: x(now), y1: lanes.incidents[0], x2: x(now), y2: H - 22, 'class': 'now' }, 'now');
    add('text', { x: x(now) + 3, y: lanes.incidents[0] + 8 }, 'now');
    var ticks = Math.max(2, Math.floor((W - left) / 160));
    for (var k = 0; k <= ticks; k++) {
      var t = t0 + ((t1 - t0) * k) / ticks;
      add('text', { x: Math.min(W - 80, x(t)), y: H - 6 }, t1 - t0 < 3600000 ? new Date(t).toISOString().slice(11, 19) : shortTime(t));
    }
  }

  function loadAddress(address) {
    currentAddress = address;
    $('#lookup-address').value = address;
    return getJson('/api/address?address=' + encodeURIComponent(address))
      .then(function (h) { if (currentAddress === address) renderAddress(h); })
      .catch(function (e) {
        $('#address-card').hidden = false;
        $('#address-name').textContent = address;
        $('#address-summary').textContent = 'no history: ' + e.message;
      });
  }
  function fromHash() {
    var m = /[#&]address=([^&]+)/.exec(location.hash);
    if (m) loadAddress(decodeURIComponent(m[1]));
    else { currentAddress = null; $('#address-card').hidden = true; }
  }

  // ---- the rest of the page ----
  function render(summary, incidents) {
    $('#meta').textContent = 'v' + summary.version + ' · profile ' + summary.profile + ' · ' + summary.backend + (summary.dryRun ? ' (dry run)' : '') + ' · since ' + utcMinute(ms(summary.startedAt)) + ' · ' + summary.incidents + ' incidents';
    var health = $('#health');
    health.textContent = summary.health.status;
    health.className = 'badge ' + summary.health.status;
    var checks = summary.health.checks;
    fill($('#checks tbody'), Object.keys(checks).map(function (k) {
      return row([cell(k), cell(checks[k].ok ? 'ok' : 'failing', checks[k].ok ? 'ok' : 'bad'), cell(checks[k].detail, 'reason')]);
    }));
    var c = summary.counters;
    fill($('#counters tbody'), ['packets.seen', 'probes.first_contact', 'capture.delivered', 'capture.lost', 'reconcile.repairs'].map(function (k) { return row([cell(k), cell(c[k] === undefined ? 0 : c[k])]); }));
    fill($('#offenders tbody'), summary.topOffenders.map(function (o) { return row([cell(addressLink(o.source)), cell(o.incidents), cell(o.lastSeen.slice(11, 19))]); }));
    var classes = summary.probesByClass;
    var max = Math.max(1, Math.max.apply(null, Object.keys(classes).map(function (k) { return classes[k]; })));
    var box = $('#classes');
    clear(box);
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
      var source = r['source.ip'] ? addressLink(r['source.ip']) : (r.sources ? r.sources.slice(0, 3).join(', ') + (r.sources.length > 3 ? ' …' : '') : '');
      var geo = r['source.ip'] ? recordGeo(r) : null;
      var tr = row([cell(e.at.slice(11, 19), '', utcMinute(ms(e.at))), cell(r.kind), cell(r['class']), cell(withGeo(source, geo), '', (r['source.ip'] || '') + (geo ? ' (' + geoText(geo) + ')' : '')), cell(r['destination.ip'] || ''), cell(r.probes), cell(e.decision), cell(e.reason, 'reason')]);
      tr.setAttribute('data-source', r['source.ip'] || '');
      return tr;
    }));
  }

  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    var windowSeconds = $('#timeline-window').value;
    return Promise.all([getJson('/api/summary'), getJson('/api/incidents?limit=50'), getJson('/api/timeline?seconds=' + windowSeconds), loadBans()])
      .then(function (r) {
        $('#read-message').hidden = true;
        render(r[0], r[1]);
        renderTimeline(r[2]);
        if (currentAddress !== null) return loadAddress(currentAddress);
      })
      .catch(function (e) {
        var m = $('#read-message');
        m.hidden = false;
        m.textContent = e.status === 401
          ? 'Reading needs the token here (observe.publicRead is false): paste it into the token field above (the dashboard.token file in the state directory, or observe.token).'
          : 'daemon unreachable: ' + e.message;
      })
      .then(function () { document.body.setAttribute('data-loaded', String(Date.now())); });
  }
  function soon() { if (refreshTimer === null) refreshTimer = setTimeout(refresh, 250); }

  var hash = /[#&]token=([^&]+)/.exec(location.hash);
  if (hash) {
    sessionStorage.setItem('portwarden.token', decodeURIComponent(hash[1]));
    var rest = location.hash.replace(/[#&]token=[^&]+/, '').replace(/^&/, '');
    history.replaceState(null, '', location.pathname + (rest ? '#' + rest.replace(/^#/, '') : ''));
  }
  $('#token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    sessionStorage.setItem('portwarden.token', $('#token').value.trim());
    $('#token').value = '';
    showTokenState();
    refresh();
  });
  $('#ban-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var target = $('#ban-target').value.trim(), seconds = parseFor($('#ban-for').value);
    if (seconds !== null && !(seconds > 0)) { $('#action-message').textContent = 'ban length: like 30m, 1h, 4d 5h, or permanent'; return; }
    act('Ban', '/api/ban', { target: target, seconds: seconds, reason: $('#ban-reason').value.trim() }, function (b) {
      return 'banned ' + b.target + (b.expiresInSeconds === null ? ' permanently' : ' for ' + humanDuration(b.expiresInSeconds) + ', until ' + utcMinute(Date.now() + b.expiresInSeconds * 1000));
    });
  });
  $('#allow-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var target = $('#allow-target').value.trim();
    act('Allow', '/api/allow', { target: target, reason: $('#allow-reason').value.trim() }, function (b) { return 'allowed ' + b.target + ' (never banned; any ban of it lifted)'; });
  });
  $('#lookup-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    location.hash = 'address=' + encodeURIComponent($('#lookup-address').value.trim());
  });
  $('#address-close').addEventListener('click', function () { history.replaceState(null, '', location.pathname); fromHash(); });
  var filterTimer = null;
  ['#filter-origin', '#filter-reason', '#filter-contains'].forEach(function (sel) {
    $(sel).addEventListener('input', function () { clearTimeout(filterTimer); filterTimer = setTimeout(function () { loadBans().catch(function () {}); }, 200); });
  });
  $('#ban-filter').addEventListener('reset', function () { setTimeout(function () { loadBans().catch(function () {}); }, 0); });
  $('#ban-filter').addEventListener('submit', function (ev) { ev.preventDefault(); });
  $('#timeline-window').addEventListener('change', refresh);
  window.addEventListener('hashchange', fromHash);
  showTokenState();
  if (window.EventSource) {
    var events = new EventSource('/api/events');
    ['incident', 'ban', 'unban'].forEach(function (name) { events.addEventListener(name, soon); });
  }
  fromHash();
  refresh();
  setInterval(refresh, 5000);
  setInterval(renderBans, 1000);
`;

export const DASHBOARD_JS = `'use strict';\n(function () {\n${SHARED}${PAGE}})();\n`;
