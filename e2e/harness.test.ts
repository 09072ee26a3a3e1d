import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PortReservation, reservePortOffset } from './harness.ts';

describe('test systems on one machine', () => {
  it('when an offset is held, then no other system gets it until it is released', async () => {
    // Twelve draws from twenty offsets repeat one in more than 99 % of tries:
    // only the held reservation keeps them apart.
    const held: PortReservation[] = [];
    try {
      for (let index = 0; index < 12; index += 1) held.push(await reservePortOffset());
      const offsets = held.map((reservation) => reservation.offset);
      assert.equal(new Set(offsets).size, offsets.length, `offsets ${offsets.join(', ')}`);
    } finally {
      await Promise.all(held.map((reservation) => reservation.release()));
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
