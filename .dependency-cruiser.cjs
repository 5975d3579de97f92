/**
 * portwarden's layout, checked by `npm run check:layout` (part of `npm test`).
 * Folders of src/ in data-flow order (scripts/layers.cjs), lowest first: a module may import from its own folder
 * and from folders BELOW it, never from one above (docs/layout.md). No file cycles anywhere.
 */
const LAYERS = require('./scripts/layers.cjs');

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
