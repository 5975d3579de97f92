/**
 * The dashboard: one page, its script and its style, served by the daemon itself (nothing from a CDN,
 * nothing fetched at run time; the CSP in http-server.ts forbids it anyway). Kept as strings so the build
 * ships them inside dist/: the page (page.ts), the style (style.ts) and the script (script.ts).
 */
export { DASHBOARD_HTML } from './page.js';
export { DASHBOARD_CSS } from './style.js';
export { DASHBOARD_JS } from './script.js';
