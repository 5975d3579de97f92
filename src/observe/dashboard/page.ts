/**
 * The dashboard's one HTML page. Every table sits in a card (a <section>) and every button inside its card
 * at 1280 px and wider (test/dashboard-layout.test.ts measures it); the wide cards (timeline, bans, the
 * address view, live incidents) span the whole row. No inline script or style: the CSP forbids both.
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
    <input id="token" type="password" placeholder="token" autocomplete="off" aria-label="dashboard token">
    <button type="submit">Use token</button>
    <span id="token-state"></span>
  </form>
</header>
<p id="read-message" role="alert" hidden></p>
<main>
  <section class="wide" id="timeline-card">
    <div class="card-head">
      <h2>Incident timeline</h2>
      <span id="timeline-legend" class="legend"></span>
      <span class="spacer"></span>
      <label>window
        <select id="timeline-window"><option value="3600">1 hour</option><option value="21600">6 hours</option><option value="86400">24 hours</option></select>
      </label>
    </div>
    <svg id="timeline" viewBox="0 0 1000 170" role="img" aria-label="incidents over time by kind"></svg>
    <p id="timeline-note" class="note"></p>
  </section>

  <section class="wide" id="bans-card">
    <div class="card-head">
      <h2>Active bans <span id="ban-count"></span></h2>
      <span class="spacer"></span>
      <form id="ban-filter" class="inline">
        <label>origin <select id="filter-origin"><option value="">any</option><option>detection</option><option>operator</option><option>config</option></select></label>
        <input id="filter-reason" type="search" placeholder="reason contains" aria-label="reason contains">
        <input id="filter-contains" type="search" placeholder="address contains" aria-label="address contains">
        <button type="reset" id="filter-clear">Clear</button>
      </form>
    </div>
    <div class="actions">
      <form id="ban-form" class="inline">
        <input id="ban-target" placeholder="address or network" aria-label="address to ban" required>
        <input id="ban-for" placeholder="for: 1h, 4d 5h, permanent" aria-label="ban length" value="1h">
        <input id="ban-reason" placeholder="reason" aria-label="ban reason">
        <button type="submit" class="danger">Ban</button>
      </form>
      <form id="allow-form" class="inline">
        <input id="allow-target" placeholder="address or network" aria-label="address to allow" required>
        <input id="allow-reason" placeholder="reason" aria-label="allow reason">
        <button type="submit">Allow</button>
      </form>
      <form id="lookup-form" class="inline">
        <input id="lookup-address" placeholder="address" aria-label="address to look up" required>
        <button type="submit">History</button>
      </form>
    </div>
    <p id="action-message" role="status"></p>
    <table id="bans">
      <colgroup><col class="c-target"><col class="c-origin"><col class="c-reason"><col class="c-time"><col class="c-len"><col class="c-time"><col class="c-len"><col class="c-action"></colgroup>
      <thead><tr><th>address</th><th>origin</th><th>reason</th><th>created</th><th>length</th><th>expires</th><th>left</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="bans-more" class="note"></p>
  </section>

  <section class="wide" id="address-card" hidden>
    <div class="card-head">
      <h2>Address <span id="address-name"></span></h2>
      <span id="address-geo"></span>
      <span id="address-summary" class="note"></span>
      <span class="spacer"></span>
      <button type="button" id="address-close">Close</button>
    </div>
    <svg id="address-chart" viewBox="0 0 1000 300" role="img" aria-label="incidents, bans and reputation over time"></svg>
    <h3>Bans</h3>
    <table id="address-bans">
      <colgroup><col class="c-time"><col class="c-origin"><col class="c-len"><col class="c-ended"><col class="c-reason"></colgroup>
      <thead><tr><th>created</th><th>origin</th><th>length</th><th>ended</th><th>why</th></tr></thead>
      <tbody></tbody>
    </table>
    <h3>Incidents</h3>
    <table id="address-incidents">
      <colgroup><col class="c-time"><col class="c-origin"><col class="c-origin"><col class="c-target"><col class="c-len"><col class="c-len"><col class="c-reason"></colgroup>
      <thead><tr><th>time</th><th>kind</th><th>class</th><th>destination</th><th>probes</th><th>decision</th><th>reason</th></tr></thead>
      <tbody></tbody>
    </table>
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
    <table id="incidents">
      <colgroup><col class="c-len"><col class="c-origin"><col class="c-origin"><col class="c-target"><col class="c-target"><col class="c-len"><col class="c-len"><col class="c-reason"></colgroup>
      <thead><tr><th>time</th><th>kind</th><th>class</th><th>source</th><th>destination</th><th>probes</th><th>decision</th><th>reason</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;
