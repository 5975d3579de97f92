/**
 * portwarden's layout, checked by `npm test` (scripts/check-layout.mjs runs dependency-cruiser with this file).
 * Folders of src/ in data-flow order, lowest first: a module may import from its own folder and from folders
 * BELOW it, never from one above (README "Layout"). No file cycles anywhere.
 */
const LAYERS = [
  'errors.ts', // error codes and classes
  'net', // addresses, prefixes, address sets, rate limits: the one address library
  'model', // the shared words: packet view, probe, incident, decision, ban, profile, offender, logger, counters, control protocol
  'kernel', // the kernel's doors: addon loader, netlink socket, nft runner, raw send, ruleset builder
  'decode', // bytes → Packet
  'capture', // packet sources: capture files, NFLOG, libpcap, NFQUEUE
  'detect', // probes → incidents
  'decide', // incident → decision
  'enforce', // decisions → kernel sets (nftables, iptables, dry-run)
  'respond', // answers to scanners
  'dns', // DNS blocklists
  'inline', // NFQUEUE verdicts
  'state', // SQLite: bans, incidents, offenders
  'observe', // logs, metrics, health, dashboard
  'alert', // alert channels
  'config', // assembles every stage's settings into one document
  'control', // the control socket and its handlers
  'daemon.ts', // wiring
  'cli', // the command line
];

const pathOf = (layer) => (layer.endsWith('.ts') ? `^src/${layer.replace('.', '\\.')}$` : `^src/${layer}/`);

const upward = LAYERS.map((layer, i) => ({
  name: `layer-${layer.replace('.ts', '')}`,
  comment: `${layer} may import only from the layers below it: ${LAYERS.slice(0, i).join(', ') || 'none'}`,
  severity: 'error',
  from: { path: pathOf(layer), pathNot: '\\.test\\.ts$' },
  to: { path: LAYERS.slice(i + 1).map(pathOf) },
}));

module.exports = {
  forbidden: [
    ...upward.filter((rule) => rule.to.path.length > 0),
    {
      name: 'no-cycles',
      comment: 'a file cycle ties modules that should stand alone',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-tests-in-src',
      comment: 'shipped code never imports tests or test support',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: ['\\.test\\.ts$', '^test/'] },
    },
    {
      name: 'src-layers-known',
      comment: 'every folder of src/ has its place in LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(pathOf) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^node_modules/'] },
    includeOnly: '^(src|test)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
