/**
 * The dashboard's style. What keeps it inside its cards: tables are fixed-layout at 100 % of the card, with
 * column widths from the <colgroup> (the reason column takes what is left and wraps at words, never one word a
 * line), and every other cell stays on one line and is cut with an ellipsis rather than pushing the table
 * wider than its card. Forms wrap (flex-wrap) instead of overflowing. Below about 900 px the wide tables
 * no longer fit: their card scrolls sideways (overflow-x) rather than hiding the Unban buttons.
 */
export const DASHBOARD_CSS = `
:root { --bg: #0f1419; --panel: #1a2129; --line: #26303a; --text: #d8dee4; --muted: #8b98a5; --accent: #e0823d; --ok: #3fb950; --bad: #f85149; --link: #79b8ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; gap: .6em 1em; align-items: center; padding: .6em 1em; background: var(--panel); }
h1 { font-size: 1.2em; margin: 0; color: var(--accent); }
h2 { font-size: 1em; margin: 0; color: var(--muted); font-weight: 600; }
h3 { font-size: .95em; margin: .6em 0 .3em; color: var(--muted); font-weight: 600; }
#meta, .note { color: var(--muted); }
.note { margin: .3em 0 0; font-size: .9em; }
#token-form { margin-left: auto; }
form.inline, #token-form { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; margin: 0; }
input, select, button { font: inherit; background: var(--bg); color: var(--text); border: 1px solid #333d48; border-radius: 4px; padding: .2em .5em; min-width: 0; }
input { width: 11em; }
#ban-reason, #allow-reason, #filter-reason { width: 13em; }
button { cursor: pointer; white-space: nowrap; }
button:hover { border-color: var(--accent); }
button.unban:hover, button.danger:hover { border-color: var(--bad); color: var(--bad); }
label { color: var(--muted); display: inline-flex; gap: .3em; align-items: center; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
#read-message { margin: 1em 1em 0; padding: .6em .8em; border: 1px solid var(--bad); border-radius: 6px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1em; padding: 1em; }
section { background: var(--panel); border-radius: 6px; padding: .8em; min-width: 0; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
.card-head { display: flex; flex-wrap: wrap; align-items: center; gap: .4em 1em; margin-bottom: .5em; }
.spacer { flex: 1 1 0; }
.actions { display: flex; flex-wrap: wrap; gap: .5em 1.5em; padding: .5em 0; border-top: 1px solid var(--line); }
#action-message { margin: .2em 0 .4em; min-height: 1.4em; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { text-align: left; padding: .2em .5em; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.reason { white-space: normal; overflow-wrap: anywhere; color: var(--muted); }
col.c-target { width: 11em; } col.c-origin { width: 6.5em; } col.c-time { width: 13.5em; } col.c-ended { width: 16.5em; } col.c-len { width: 7em; } col.c-action { width: 5.5em; }
td.created, td.expires, td.time { font-size: .92em; font-variant-numeric: tabular-nums; }
col.c-reason { width: auto; }
#checks td:first-child { width: 28%; } #checks td:nth-child(2) { width: 16%; } #counters td:first-child { width: 44%; }
.badge { padding: .1em .6em; border-radius: 1em; font-weight: 600; }
.badge.ready { background: var(--ok); color: #000; }
.badge.unready { background: var(--bad); color: #000; }
.bar { display: flex; align-items: center; gap: .5em; margin: .15em 0; }
.bar span:first-child { width: 5em; color: var(--muted); }
.bar .fill { height: .8em; background: var(--accent); border-radius: 2px; min-width: 1px; }
.legend { display: inline-flex; flex-wrap: wrap; gap: .8em; color: var(--muted); font-size: .9em; }
.legend i { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .3em; vertical-align: -.05em; }
svg { display: block; width: 100%; }
#timeline { height: 170px; }
#address-chart { height: 300px; }
svg text { fill: var(--muted); font-size: 11px; }
svg line { stroke: #333d48; }
svg .reputation { fill: none; stroke: var(--link); stroke-width: 2; }
svg .offence { fill: var(--link); }
svg .now { stroke: var(--muted); stroke-dasharray: 3 3; }
td .geo { display: block; white-space: normal; overflow-wrap: anywhere; }
.geo { color: var(--muted); font-size: .9em; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
`;
