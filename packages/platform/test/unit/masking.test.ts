import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isCleanJsonText,
  maskName,
  maskPhone,
  maskRrn,
  REDACT_DEPTH_MAX,
  redact,
  redactString,
} from '../../src/masking.ts';

describe('maskName', () => {
  it('when a name has three or more characters, then only the first and last stay', () => {
    assert.equal(maskName('홍길동'), '홍*동');
    assert.equal(maskName('남궁민수'), '남**수');
    assert.equal(maskName('Alice Kim'), 'A*******m');
  });

  it('when a name has two characters, then the second is hidden', () => {
    assert.equal(maskName('홍길'), '홍*');
  });

  it('when a name has one character or none, then a single star is shown', () => {
    assert.equal(maskName('홍'), '*');
    assert.equal(maskName(''), '*');
  });

  it('when a name has characters outside the BMP, then they count as one character each', () => {
    assert.equal(maskName('𠀋길동'), '𠀋*동');
  });
});

describe('maskRrn', () => {
  it('when an RRN comes with or without its dash, then birth date and gender digit stay', () => {
    assert.equal(maskRrn('9001011234567'), '900101-1******');
    assert.equal(maskRrn('900101-1234567'), '900101-1******');
  });

  it('when the value is not RRN-shaped, then nothing of it is shown', () => {
    assert.equal(maskRrn('90010112345'), '******-*******');
    assert.equal(maskRrn('900101-9234567'), '******-*******');
  });
});

describe('maskPhone', () => {
  it('when a mobile number has 11 digits, with or without dashes, then the last four are hidden', () => {
    assert.equal(maskPhone('01012345678'), '010-1234-****');
    assert.equal(maskPhone('010-1234-5678'), '010-1234-****');
  });

  it('when a mobile number has a three-digit middle part, then the format follows it', () => {
    assert.equal(maskPhone('010-123-4567'), '010-123-****');
    assert.equal(maskPhone('0111234567'), '011-123-****');
  });

  it('when a number is written in +82 form, then it is masked as the domestic number', () => {
    assert.equal(maskPhone('+82 10-1234-5678'), '010-1234-****');
  });

  it('when the value is not a mobile number, then every digit is hidden', () => {
    assert.equal(maskPhone('02-123-4567'), '**-***-****');
  });
});

describe('redactString', () => {
  it('when text carries an RRN, then it is masked in place', () => {
    assert.equal(redactString('rrn=900101-1234567 ok'), 'rrn=900101-1****** ok');
    assert.equal(redactString('rrn 9001011234567.'), 'rrn 900101-1******.');
  });

  it('when a 13-digit run is not a plausible date or sits inside longer digits, then it is left alone', () => {
    assert.equal(redactString('at 1732492800000 ms'), 'at 1732492800000 ms');
    assert.equal(redactString('ref 99001011234567'), 'ref 99001011234567');
  });

  it('when text carries a mobile number, then its last four digits are hidden', () => {
    assert.equal(redactString('call 010-1234-5678 now'), 'call 010-1234-**** now');
    assert.equal(redactString('call 01012345678'), 'call 010-1234-****');
  });

  it('when text carries a bearer token or a bare JWT, then it is removed', () => {
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    assert.equal(redactString('authorization: Bearer abc.def-ghi'), 'authorization: [REDACTED]');
    assert.equal(redactString(`token ${jwt} end`), 'token [REDACTED] end');
  });

  it('when a URL carries a token query parameter, then its value is removed', () => {
    assert.equal(redactString('/cb?refresh_token=opaque123&x=1'), '/cb?refresh_token=[REDACTED]&x=1');
  });

  it('when text holds account numbers, UUIDs and host names, then they pass unchanged', () => {
    const text = 'account 123-456-789012 id 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b host core-user.nuri.svc';
    assert.equal(redactString(text), text);
  });
});

describe('redact', () => {
  it('when keys name secrets, then their values are replaced whatever their case or spelling', () => {
    const input = {
      password: 'pw',
      Passwd: 'pw',
      clientSecret: 's',
      token: 't',
      accessToken: 'a',
      refresh_token: 'r',
      Authorization: 'Bearer x',
      cookie: 'c',
      'set-cookie': ['c'],
      apiKey: 'k',
      idempotencyKey: 'keep-me',
    };
    assert.deepEqual(redact(input), {
      password: '[REDACTED]',
      Passwd: '[REDACTED]',
      clientSecret: '[REDACTED]',
      token: '[REDACTED]',
      accessToken: '[REDACTED]',
      refresh_token: '[REDACTED]',
      Authorization: '[REDACTED]',
      cookie: '[REDACTED]',
      'set-cookie': '[REDACTED]',
      apiKey: '[REDACTED]',
      idempotencyKey: 'keep-me',
    });
  });

  it('when keys name personal data, then their values are masked by kind', () => {
    const input = {
      name: '홍길동',
      fullName: '남궁민수',
      customerName: '홍길',
      realName: '김',
      rrn: '9001011234567',
      residentNumber: '900101-2234567',
      phone: '01012345678',
      phoneNumber: '010-123-4567',
      mobile: '010-9876-5432',
    };
    assert.deepEqual(redact(input), {
      name: '홍*동',
      fullName: '남**수',
      customerName: '홍*',
      realName: '*',
      rrn: '900101-1******',
      residentNumber: '900101-2******',
      phone: '010-1234-****',
      phoneNumber: '010-123-****',
      mobile: '010-9876-****',
    });
  });

  it('when values are nested in arrays and objects, then they are redacted at every level', () => {
    const input = {
      users: [{ profile: { name: '홍길동', note: 'rrn 900101-1234567' } }],
      tags: ['010-1111-2222'],
    };
    assert.deepEqual(redact(input), {
      users: [{ profile: { name: '홍*동', note: 'rrn 900101-1******' } }],
      tags: ['010-1111-****'],
    });
  });

  it('when an object refers to itself, then the cycle is cut instead of recursing forever', () => {
    const input: Record<string, unknown> = { id: 1 };
    input.self = input;
    assert.deepEqual(redact(input), { id: 1, self: '[Circular]' });
  });

  it('when the same object appears twice without a cycle, then both copies are kept', () => {
    const shared = { phone: '01012345678' };
    assert.deepEqual(redact({ a: shared, b: shared }), {
      a: { phone: '010-1234-****' },
      b: { phone: '010-1234-****' },
    });
  });

  it('when nesting is deeper than the limit, then the rest is cut off', () => {
    let deep: unknown = 'leaf';
    for (let level = 0; level < REDACT_DEPTH_MAX + 5; level += 1) deep = { next: deep };
    const text = JSON.stringify(redact(deep));
    assert.ok(text.includes('[Truncated]'));
    assert.ok(!text.includes('leaf'));
  });

  it('when given an Error, then message and stack are redacted and its class name is not masked', () => {
    const error = new Error('lookup failed for 900101-1234567');
    const result = redact(error) as Record<string, unknown>;
    assert.equal(result.type, 'Error');
    assert.equal(result.message, 'lookup failed for 900101-1******');
    assert.ok(typeof result.stack === 'string' && !result.stack.includes('1234567'));
  });

  it('when given the input object, then the input is left untouched', () => {
    const input = { password: 'pw', name: '홍길동' };
    redact(input);
    assert.deepEqual(input, { password: 'pw', name: '홍길동' });
  });

  it('when values sit in a Map or Set or are binary, then they are redacted or summarized', () => {
    const input = {
      byKey: new Map([['password', 'pw']]),
      phones: new Set(['01012345678']),
      raw: Buffer.from('abc'),
    };
    assert.deepEqual(redact(input), {
      byKey: { password: '[REDACTED]' },
      phones: ['010-1234-****'],
      raw: '[Binary 3 bytes]',
    });
  });

  it('when values are numbers, booleans or null, then they pass unchanged', () => {
    assert.deepEqual(redact({ amount: 1000, ok: true, none: null }), { amount: 1000, ok: true, none: null });
  });
});

describe('isCleanJsonText', () => {
  // A small deterministic generator (mulberry32): the same lines every run.
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }
  const keys = [
    'msg',
    'a',
    'url',
    'name',
    'fullName',
    'user_name',
    'Phone',
    'rrn',
    'token',
    'apiToken',
    ':password',
    ':x',
    ':access-token',
    'x:y',
    '',
    'secretive',
    'memo',
    'reqId',
    'code',
    '::',
    'passwordHint',
    'cookie',
    '한글',
  ];
  const texts = [
    'b',
    '',
    ':',
    ' : ',
    'GET',
    '/api/v1/me',
    '/cb?token=abc',
    '/cb?page=2',
    '900101-1234567',
    '9001011234567',
    '010-1234-5678',
    '01012345678',
    'Bearer abc.def',
    'eyJhbGc.eyJzdWIi.c2ln',
    '홍길동',
    '123-456-789012',
    'a:b',
    '1796645216963',
    'x y z',
  ];
  function value(next: () => number, depth: number): unknown {
    const pick = next();
    if (depth < 4 && pick < 0.2) return object(next, depth + 1);
    if (depth < 4 && pick < 0.3)
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    if (pick < 0.4) return Math.floor(next() * 1e13);
    if (pick < 0.45) return next() < 0.5;
    if (pick < 0.5) return null;
    return texts[Math.floor(next() * texts.length)];
  }
  function object(next: () => number, depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    const size = Math.floor(next() * 5);
    for (let index = 0; index < size; index += 1)
      result[keys[Math.floor(next() * keys.length)]!] = value(next, depth);
    return result;
  }

  it('when a line is said to be clean, then redacting it in full changes nothing (20,000 generated lines)', () => {
    const next = random(20261207);
    let clean = 0;
    for (let index = 0; index < 20_000; index += 1) {
      const line = JSON.stringify(object(next, 0));
      if (!isCleanJsonText(line)) continue;
      clean += 1;
      assert.deepEqual(redact(JSON.parse(line)), JSON.parse(line), line);
    }
    // Both verdicts must occur, or the property was not tested.
    assert.ok(clean > 1_000 && clean < 19_000, `${clean} of 20,000 clean`);
  });

  it('when a key a rule applies to follows a string value, then it is seen (a colon-led key included)', () => {
    assert.equal(isCleanJsonText('{"a":"b",":password":"hunter2"}'), false);
    assert.equal(isCleanJsonText('{"headers":{":method":"GET",":access-token":"abcdef"}}'), false);
    assert.equal(isCleanJsonText('["v",{":secret":"zz"}]'), false);
    assert.equal(isCleanJsonText('{"password" : "hunter2"}'), false);
    assert.equal(isCleanJsonText('{"a":"b",":x":"c"}'), true);
  });
});
