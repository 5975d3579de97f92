import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressIndexedMap } from './address-map.js';

test('changes counts every set, delete and clear, so a reader can tell whether anything changed', () => {
  const m = new AddressIndexedMap<number>();
  assert.equal(m.changes, 0);
  m.set('192.0.2.7', 1);
  m.set('192.0.2.7', 2); // a new value for the same key is a change too
  assert.equal(m.changes, 2);
  assert.equal(m.delete('198.51.100.1'), false);
  assert.equal(m.changes, 2, 'deleting what is not there changes nothing');
  m.delete('192.0.2.7');
  m.clear();
  assert.equal(m.changes, 4);
  assert.equal(m.addresses.overlapping('192.0.2.7'), null);
});
