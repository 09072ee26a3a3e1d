import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { services } from '../src/cli/services.ts';
import { planTopology, portsOf } from '../src/cli/topology.ts';
import {
  type PortReservation,
  portOffsets,
  reservationPortOf,
  reservePortOffset,
  testSystemEnvironment,
} from './harness.ts';

describe('test systems on one machine', () => {
  it('when an offset is held, then no other system gets it until it is released', async () => {
    // Ten draws from fifteen offsets repeat one in more than 98 % of tries:
    // only the held reservation keeps them apart.
    const held: PortReservation[] = [];
    try {
      for (let index = 0; index < 10; index += 1) held.push(await reservePortOffset());
      const offsets = held.map((reservation) => reservation.offset);
      assert.equal(new Set(offsets).size, offsets.length, `offsets ${offsets.join(', ')}`);
    } finally {
      await Promise.all(held.map((reservation) => reservation.release()));
    }
  });

  it('when the last offset runs three instances of everything, then every port lies below the ephemeral range an outgoing connection may take', () => {
    const offset = Math.max(...portOffsets);
    const scale = Object.fromEntries(services.map((service) => [service.name, 3]));
    const ports = portsOf(planTopology(scale, testSystemEnvironment(offset, 'ports')));
    assert.ok(ports.length >= services.length * 3);
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    assert.ok(low !== undefined && high !== undefined);
    for (const port of [...ports, reservationPortOf(offset), reservationPortOf(Math.min(...portOffsets))]) {
      assert.ok(port < low || port > high, `port ${port} in the ephemeral range ${low}–${high}`);
    }
  });

  it('when eight systems reserve at once, then no two share an offset', async () => {
    const reservations = await Promise.all(Array.from({ length: 8 }, () => reservePortOffset()));
    try {
      const offsets = reservations.map((reservation) => reservation.offset);
      assert.equal(new Set(offsets).size, offsets.length, `offsets ${offsets.join(', ')}`);
    } finally {
      await Promise.all(reservations.map((reservation) => reservation.release()));
    }
  });
});
