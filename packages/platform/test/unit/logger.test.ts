import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, redactLine } from '../../src/logger.ts';

const fullName = '홍길동';
const rrn = '900101-1234567';
const rrnDigits = '1234567';
const phone = '010-1234-5678';
const password = 'correct-horse-battery-9';
const refreshToken = 'rt_8f2c1e9a7b6d5c4e3f2a1b0c';
const accessToken = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLWJ5dGVz';

const secrets = [fullName, rrnDigits, password, refreshToken, accessToken];
/** The phone's last four digits: short enough to turn up by chance in a line's clock or pid. */
const phoneTail = '5678';

/** A pino destination that keeps every line written to it. */
function captureLines() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

function assertNoSecrets(text: string): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `log output leaked ${secret}:\n${text}`);
  const said = text.replace(/"(time|pid)":\d+/g, '');
  assert.ok(!said.includes(phoneTail), `log output leaked ${phoneTail}:\n${text}`);
}

describe('createLogger', () => {
  it('when personal data and credentials are logged in every way pino allows, then none reach the output', () => {
    const { lines, destination } = captureLines();
    const logger = createLogger({ name: 'core-user', destination });
    const child = logger.child({ name: fullName, phone });

    logger.info({ name: fullName, rrn, phone, password, refreshToken }, 'signup');
    logger.info({ req: { headers: { authorization: `Bearer ${accessToken}`, cookie: 'sid=1' } } }, 'request');
    // Free text is masked by shape; a name or an opaque token has no shape, so
    // those are only ever logged under their keys.
    logger.info(`registering rrn ${rrn}, phone ${phone}, token ${accessToken}`);
    logger.info('formatted %s and %o', rrn, { password });
    child.warn({ user: { fullName, phoneNumber: phone } }, 'child line');
    logger.error(new Error(`duplicate rrn ${rrn} for phone ${phone}`));
    logger.error({ err: new Error(`refresh rejected; Bearer ${accessToken}`) }, 'refresh failed');

    assert.equal(lines.length, 7);
    const text = lines.join('');
    assertNoSecrets(text);
  });

  it('when personal data is logged, then its masked form is what appears', () => {
    const { lines, destination } = captureLines();
    const logger = createLogger({ name: 'core-user', destination });

    logger.info(
      { name: fullName, rrn, phone, password, refreshToken, authorization: `Bearer ${accessToken}` },
      'x',
    );
    logger.child({ name: fullName }).info(`rrn ${rrn}`);

    const first = JSON.parse(lines[0] ?? '');
    assert.equal(first.name, '홍*동');
    assert.equal(first.rrn, '900101-1******');
    assert.equal(first.phone, '010-1234-****');
    assert.equal(first.password, '[REDACTED]');
    assert.equal(first.refreshToken, '[REDACTED]');
    assert.equal(first.authorization, '[REDACTED]');
    const second = JSON.parse(lines[1] ?? '');
    assert.equal(second.name, '홍*동');
    assert.equal(second.msg, 'rrn 900101-1******');
  });

  it('when an error is logged, then its message and stack are masked but kept', () => {
    const { lines, destination } = captureLines();
    const logger = createLogger({ name: 'core-user', destination });

    logger.error({ err: new Error(`duplicate rrn ${rrn}`) }, 'failed');

    const line = JSON.parse(lines[0] ?? '');
    assert.equal(line.err.message, 'duplicate rrn 900101-1******');
    assert.match(line.err.stack, /^Error: duplicate rrn 900101-1\*{6}\n/);
    assert.equal(line.err.type, 'Error');
  });

  it('when a line is written, then it is one JSON object with the service, level and message', () => {
    const { lines, destination } = captureLines();
    createLogger({ name: 'gateway', destination }).warn('hello');
    assert.equal(lines.length, 1);
    assert.ok(lines[0]?.endsWith('\n'));
    const line = JSON.parse(lines[0] ?? '');
    assert.equal(line.service, 'gateway');
    assert.equal(line.level, 40);
    assert.equal(line.msg, 'hello');
  });

  it('when the level is raised, then lines below it are not written', () => {
    const { lines, destination } = captureLines();
    const logger = createLogger({ name: 'gateway', level: 'warn', destination });
    logger.info('quiet');
    logger.error('loud');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /loud/);
  });
});

describe('redactLine', () => {
  it('when the line is not JSON, then patterns are still masked', () => {
    assert.equal(redactLine(`plain ${rrn}\n`), 'plain 900101-1******\n');
  });
});
