/**
 * The folders of src/ in data-flow order, lowest first. A module may import from its own folder and from the
 * folders BELOW it, never from one above. .dependency-cruiser.cjs turns this list into rules (`npm run
 * check:layout`, part of `npm test`); docs/layout.md explains it and a test keeps the two in step.
 */
module.exports = [
  'errors.ts',
  'net',
  'model',
  'kernel',
  'decode',
  'capture',
  'detect',
  'intel',
  'rules',
  'decide',
  'enforce',
  'respond',
  'dns',
  'inline',
  'state',
  'lapi',
  'fleet',
  'observe',
  'alert',
  'playbook',
  'config',
  'control',
  'daemon.ts',
  'cli',
];
