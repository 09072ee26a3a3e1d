import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, redactLine } from '../../src/logger.ts';
import { isCleanJsonText, redact } from '../../src/masking.ts';

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

describe('redactLine on lines with nothing to redact', () => {
  /** What the full path makes of a line: parsed, walked, serialized again. */
  const redactedFully = (line: string) => JSON.parse(`${JSON.stringify(redact(JSON.parse(line)))}`);

  it('when a line holds no key a rule applies to and no shape, then it is written exactly as it came', () => {
    const access =
      '{"level":30,"time":1796645216963,"service":"gateway","pid":12532,"reqId":"01a25066-62c3-737b-bf65-aba7fef7ba23","req":{"method":"POST","url":"/api/v1/accounts/123-456-789012/withdrawals","host":"127.0.0.1:8080","remoteAddress":"127.0.0.1","remotePort":33448},"msg":"incoming request"}\n';
    assert.ok(isCleanJsonText(access));
    assert.equal(redactLine(access), access);
    assert.deepEqual(redactedFully(access), JSON.parse(access));
  });

  it('when a line holds a key a rule applies to or a shape anywhere, then it goes the full way and comes out masked', () => {
    const lines: Array<[string, string]> = [
      [`{"msg":"x","name":"${fullName}"}`, fullName],
      [`{"msg":"x","user":{"phoneNumber":"${phone}"}}`, phoneTail],
      [`{"msg":"x","refresh_token":"${refreshToken}"}`, refreshToken],
      [`{"msg":"x","Authorization":"opaque-${refreshToken}"}`, refreshToken],
      [`{"msg":"x","dbPassword":"${password}"}`, password],
      [`{"msg":"rrn ${rrn}"}`, rrnDigits],
      [`{"msg":"call ${phone}"}`, phoneTail],
      [`{"msg":"sent ${accessToken}"}`, accessToken],
      [`{"msg":"x","note":"Bearer ${refreshToken}"}`, refreshToken],
      [`{"msg":"x","url":"/cb?token=${refreshToken}"}`, refreshToken],
    ];
    for (const [line, secret] of lines) {
      assert.ok(!isCleanJsonText(line), line);
      const out = redactLine(`${line}\n`);
      assert.ok(!out.replace(/"(time|pid)":\d+/g, '').includes(secret), `leaked ${secret}: ${out}`);
    }
  });

  it('when an escape could hide a shape from the text as written, then the line goes the full way', () => {
    // As written, "\t" and "\n" are a backslash and a letter: neither is the space
    // or the word boundary the shapes need, but their parsed strings have both.
    const tabbed = `{"msg":"x","note":"Bearer\\t${refreshToken}"}`;
    const newline = `{"msg":"x","note":"line\\n${accessToken}"}`;
    for (const line of [tabbed, newline]) {
      assert.ok(!isCleanJsonText(line), line);
      const out = redactLine(`${line}\n`);
      assert.ok(!out.includes(refreshToken) && !out.includes(accessToken), out);
    }
  });

  it('when the logger writes lines of every kind, then the clean ones come out as the full path would make them and the rest take it', () => {
    const { lines, destination } = captureLines();
    const logger = createLogger({ name: 'gateway', destination });
    const request = logger.child({ reqId: '01a25066-62c3-737b-bf65-aba7fef7ba23' });
    request.info({ req: { method: 'GET', url: '/api/v1/me', remotePort: 1 } }, 'incoming request');
    request.info({ res: { statusCode: 200 }, responseTime: 1.5 }, 'request completed');
    request.warn({ account: '123-456-789012', amount: '1000' }, '한글 메시지');
    request.warn('a "quoted" word');
    request.info({ phone, nested: { deeper: [1, 'two', { rrn }] } }, 'pii');
    assert.equal(lines.length, 5);
    // The first three had nothing to redact: written as they came, which is what the full path makes of them.
    for (const line of lines.slice(0, 3)) {
      assert.ok(isCleanJsonText(line), line);
      assert.deepEqual(JSON.parse(line), redactedFully(line), line);
    }
    assert.equal(JSON.parse(lines[2] ?? '').msg, '한글 메시지');
    // An escaped quote is a backslash as written: that line went the full way, unchanged by it.
    assert.ok(!isCleanJsonText(lines[3] ?? ''));
    assert.equal(JSON.parse(lines[3] ?? '').msg, 'a "quoted" word');
    // So did the one with personal data, and came out masked.
    const pii = JSON.parse(lines[4] ?? '');
    assert.equal(pii.phone, '010-1234-****');
    assert.equal(pii.nested.deeper[2].rrn, '900101-1******');
    assertNoSecrets(lines.join(''));
  });
});
