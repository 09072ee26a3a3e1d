import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  IdentityInput,
  nameLengthMax,
  parseIdentity,
  parseName,
  parsePhone,
  parseRrn,
  rrnBirthDate,
} from '../src/identity.ts';

const now = new Date('2026-11-25T03:00:00Z'); // noon in Korea

function parsedValue<T>(parsed: { ok: true; value: T } | { ok: false; problem: string }): T {
  assert.ok(parsed.ok, 'expected the input to parse');
  return parsed.value;
}

describe('parseName', () => {
  it('when a name is Hangul, Latin or both with single spaces, then it is accepted unchanged', () => {
    for (const name of ['홍길동', '홍', 'John Smith', 'José Müller', '김 Kim', 'a'.repeat(nameLengthMax)]) {
      assert.equal(parsedValue(parseName(name)), name);
    }
  });

  it('when a name has surrounding spaces, then they are trimmed', () => {
    assert.equal(parsedValue(parseName('  홍길동 ')), '홍길동');
  });

  it('when a Hangul name arrives decomposed (NFD jamo), then it is composed to NFC', () => {
    const decomposed = '홍길동'.normalize('NFD');
    assert.notEqual(decomposed, '홍길동');
    assert.equal(parsedValue(parseName(decomposed)), '홍길동');
  });

  it('when a name is empty, too long, has double spaces, digits, symbols or lone jamo, then it is refused', () => {
    for (const name of [
      '',
      '   ',
      'a'.repeat(nameLengthMax + 1),
      '홍  길동',
      '홍길동1',
      "O'Brien",
      'ㅎㄱㄷ',
      'Ｊｏｈｎ',
      '홍\t길동',
    ]) {
      const parsed = parseName(name);
      assert.equal(parsed.ok, false, `accepted ${JSON.stringify(name)}`);
    }
  });

  it('when a name is 50 Hangul syllables, then it counts code points and is accepted', () => {
    assert.equal(Array.from(parsedValue(parseName('가'.repeat(50)))).length, 50);
    assert.equal(parseName('가'.repeat(51)).ok, false);
  });
});

describe('parseRrn', () => {
  it('when an RRN has a dash or not, then it is normalised to 13 digits', () => {
    assert.equal(parsedValue(parseRrn('900101-1234567', now)), '9001011234567');
    assert.equal(parsedValue(parseRrn('9001011234567', now)), '9001011234567');
  });

  it('when the gender digit is 1, 2, 5 or 6, then the birth year is in the 1900s; 3, 4, 7, 8 in the 2000s', () => {
    for (const digit of ['1', '2', '5', '6']) assert.equal(rrnBirthDate(`050101-${digit}000000`)?.year, 1905);
    for (const digit of ['3', '4', '7', '8']) assert.equal(rrnBirthDate(`050101-${digit}000000`)?.year, 2005);
  });

  it('when the gender digit is 0 or 9, then the RRN is invalid', () => {
    assert.equal(parseRrn('900101-0234567', now).ok, false);
    assert.equal(parseRrn('900101-9234567', now).ok, false);
  });

  it('when 29 February falls in a leap year of the implied century, then it is valid', () => {
    assert.deepEqual(rrnBirthDate('000229-3234567'), { year: 2000, month: 2, day: 29 });
    assert.ok(parseRrn('000229-3234567', now).ok);
    assert.ok(parseRrn('960229-1234567', now).ok);
  });

  it('when 29 February falls in a common year, then it is invalid (1900 is not a leap year)', () => {
    assert.equal(parseRrn('010229-3234567', now).ok, false);
    assert.equal(parseRrn('000229-1234567', now).ok, false); // 1900
  });

  it('when month or day does not exist, then it is invalid', () => {
    for (const rrn of [
      '901301-1234567',
      '900001-1234567',
      '900100-1234567',
      '900431-1234567',
      '901232-1234567',
    ]) {
      assert.equal(parseRrn(rrn, now).ok, false, rrn);
    }
  });

  it('when the birth date is after today in Korea, then it is invalid; today is valid', () => {
    assert.ok(parseRrn('261125-3234567', now).ok);
    assert.equal(parseRrn('261126-3234567', now).ok, false);
    assert.equal(parseRrn('991231-3234567', now).ok, false); // 2099
    // 15:00 UTC is already the next day in Korea.
    assert.ok(parseRrn('261126-3234567', new Date('2026-11-25T15:00:00Z')).ok);
  });

  it('when the shape is wrong, then it is invalid and the problem does not echo the value', () => {
    for (const rrn of [
      '900101-123456',
      '900101--1234567',
      '90010-11234567',
      '900101 1234567',
      '９００１０１1234567',
    ]) {
      const parsed = parseRrn(rrn, now);
      assert.equal(parsed.ok, false, rrn);
      if (!parsed.ok) assert.ok(!parsed.problem.includes(rrn));
    }
  });
});

describe('parsePhone', () => {
  it('when a mobile number has dashes or not, then it is normalised to 11 digits', () => {
    assert.equal(parsedValue(parsePhone('010-1234-5678')), '01012345678');
    assert.equal(parsedValue(parsePhone('01012345678')), '01012345678');
    for (const prefix of ['011', '016', '017', '018', '019']) assert.ok(parsePhone(`${prefix}-1234-5678`).ok);
  });

  it('when the prefix is not a mobile one or the digits are too few, then it is invalid', () => {
    for (const phone of [
      '012-1234-5678',
      '02-1234-5678',
      '010-123-5678',
      '010-12345-678',
      '+82-10-1234-5678',
      '010 1234 5678',
    ]) {
      assert.equal(parsePhone(phone).ok, false, phone);
    }
  });
});

describe('parseIdentity and IdentityInput', () => {
  it('when every field is valid, then the canonical identity comes back (phone null when absent)', () => {
    const parsed = parseIdentity({ name: ' 홍길동', rrn: '900101-1234567' }, now);
    assert.deepEqual(parsed, { ok: true, value: { name: '홍길동', rrn: '9001011234567', phone: null } });
  });

  it('when a field is invalid, then the failure names that field', () => {
    const parsed = parseIdentity({ name: '홍길동', rrn: '900101-1234567', phone: '012-0000-0000' }, now);
    assert.equal(parsed.ok, false);
    if (!parsed.ok) assert.equal(parsed.field, 'phone');
  });

  it('when the wire schema sees unknown fields, then it ignores them; a non-string rrn fails', () => {
    assert.ok(Value.Check(IdentityInput, { name: '홍길동', rrn: '9001011234567', extra: 1 }));
    assert.equal(Value.Check(IdentityInput, { name: '홍길동', rrn: 9001011234567 }), false);
  });
});
