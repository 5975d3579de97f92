/** The control protocol's request check: old clients' requests stay valid; the new unban --all is checked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestProblem } from './control.js';

test('requests of older clients stay valid; unban --all with an origin is checked', () => {
  assert.equal(requestProblem({ command: 'ban', target: '192.0.2.7', seconds: 600, reason: 'x' }), null);
  assert.equal(requestProblem({ command: 'ban', target: '192.0.2.7', seconds: null, reason: 'x' }), null);
  assert.equal(requestProblem({ command: 'unban', target: '192.0.2.7' }), null);
  assert.equal(requestProblem({ command: 'bans' }), null);
  assert.equal(requestProblem({ command: 'unban', all: true }), null);
  assert.equal(requestProblem({ command: 'unban', all: true, origin: 'detection' }), null);
  assert.match(requestProblem({ command: 'unban', all: true, origin: 'me' }) ?? '', /origin must be one of detection, operator, config/);
  assert.match(requestProblem({ command: 'unban' }) ?? '', /unban needs a target/);
  assert.match(requestProblem({ command: 'unban', all: false }) ?? '', /unban needs a target/);
});
