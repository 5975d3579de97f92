/**
 * The netlink addon on NETLINK_NETFILTER, which needs root (CAP_NET_ADMIN): an nf_tables GETTABLE of
 * a table that does not exist, read-only. The rest of the addon's tests need no root: socket.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as osConstants } from 'node:os';
import { NETLINK_NETFILTER } from './socket.js';
import { encodeGetTable } from '../enforce/nft-netlink.js';
import { NLMSG_ERROR, allMessages, collecting } from '../../test/support/netlink-messages.js';

test('nf_tables: GETTABLE of a table that does not exist is answered ENOENT with its sequence number', async () => {
  const { socket, batches, until } = collecting(NETLINK_NETFILTER);
  try {
    socket.send(encodeGetTable('pw_no_such_table_netlink_test', 4242));
    await until((all) => allMessages(all).some((m) => m.type === NLMSG_ERROR));
    const err = allMessages(batches).find((m) => m.type === NLMSG_ERROR)!;
    assert.deepEqual([err.errno, err.answered], [osConstants.errno.ENOENT, 4242]);
  } finally {
    socket.close();
  }
});
