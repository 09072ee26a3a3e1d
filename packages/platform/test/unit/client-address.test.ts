import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey } from '../../src/client-address.ts';

test('when a client address is keyed, then IPv4 stays as is, IPv6 counts by its /64 and a mapped IPv4 is the IPv4', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('::ffff:198.51.100.4'), '198.51.100.4');
  assert.notEqual(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'));
});
