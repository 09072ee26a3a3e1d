// Access tokens a hostile client presents: each must be 401 UNAUTHENTICATED
// (never a 5xx, never accepted). Built from a real token, the JWKS the
// gateway publishes and the run's own signing key (for tokens that are
// validly signed but wrong in another way: expired, another issuer, a user
// that does not exist).
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export interface BadToken {
  describe: string;
  value: string;
}

const issuer = 'https://nuri.bank/channel-user';
const audience = 'nuri-bank-api';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Changes one character in the middle of the signature: its decoded bytes always change. */
export function tamperMiddle(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const middle = Math.floor(signature.length / 2);
  const replacement = signature[middle] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, middle)}${replacement}${signature.slice(middle + 1)}`;
}

export async function badTokens(options: {
  valid: string;
  /** The JWKS' first key (OKP/Ed25519): `x` and `kid`. */
  publicJwk: { x: string; kid: string };
  /** NURI_JWT_SIGNING_KEYS of the run: `kid:base64url(pkcs8 der)`, comma separated. */
  signingKeys: string;
}): Promise<BadToken[]> {
  const { valid, publicJwk } = options;
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1_000);
  const [kid, der] = options.signingKeys.split(',')[0]!.split(':') as [string, string];
  const realKey = createPrivateKey({ key: Buffer.from(der, 'base64url'), format: 'der', type: 'pkcs8' });
  const strangerKey = generateKeyPairSync('ed25519').privateKey;
  const signed = (key: typeof realKey, keyId: string, change: (jwt: SignJWT) => SignJWT) =>
    change(
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: keyId, typ: 'JWT' })
        .setSubject(String(claims.sub))
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(now - 60)
        .setExpirationTime(now + 600)
        .setJti(randomUUID()),
    ).sign(key);
  const hs256 = (secret: Buffer | string) => {
    const head = base64url({ alg: 'HS256', typ: 'JWT', kid: publicJwk.kid });
    const mac = createHmac('sha256', secret).update(`${head}.${payload}`).digest('base64url');
    return `${head}.${payload}.${mac}`;
  };
  const lastTwo = signature.slice(-2) === 'AA' ? 'BB' : 'AA';
  return [
    { describe: 'alg none, no signature', value: `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.` },
    {
      describe: 'alg none with the old signature',
      value: `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`,
    },
    {
      describe: 'HS256 signed with the public key (raw x)',
      value: hs256(Buffer.from(publicJwk.x, 'base64url')),
    },
    { describe: 'HS256 signed with the public key (x as text)', value: hs256(publicJwk.x) },
    { describe: 'HS256 signed with the JWK as JSON', value: hs256(JSON.stringify(publicJwk)) },
    {
      describe: 'expired an hour ago (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setExpirationTime(now - 3_600)),
    },
    {
      describe: 'not valid before next year (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setNotBefore(now + 31_536_000)),
    },
    {
      describe: 'another issuer (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setIssuer('https://evil.example/')),
    },
    {
      describe: 'another audience (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setAudience('someone-else')),
    },
    {
      describe: 'a user that does not exist (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setSubject(randomUUID())),
    },
    {
      describe: 'a subject that is no UUID (real key)',
      value: await signed(realKey, kid, (jwt) => jwt.setSubject("x' OR 1=1 --")),
    },
    {
      describe: 'an unknown kid (a stranger’s key)',
      value: await signed(strangerKey, 'unknown-kid', (jwt) => jwt),
    },
    { describe: 'the right kid, a stranger’s key', value: await signed(strangerKey, kid, (jwt) => jwt) },
    {
      describe: 'the last two signature characters changed',
      value: `${header}.${payload}.${signature.slice(0, -2)}${lastTwo}`,
    },
    { describe: 'a signature character in the middle changed', value: tamperMiddle(valid) },
    {
      describe: 'the payload changed (another sub)',
      value: `${header}.${base64url({ ...claims, sub: randomUUID() })}.${signature}`,
    },
    { describe: 'the signature cut off', value: `${header}.${payload}` },
    { describe: 'four segments', value: `${valid}.${signature}` },
    {
      describe: 'a header that is no JSON',
      value: `${Buffer.from('{"alg":').toString('base64url')}.${payload}.${signature}`,
    },
    {
      describe: 'a kid with a path in it',
      value: `${base64url({ alg: 'EdDSA', kid: '../../../../etc/passwd' })}.${payload}.${signature}`,
    },
    {
      describe: 'a jku pointing elsewhere',
      value: `${base64url({ alg: 'EdDSA', kid, jku: 'http://127.0.0.1:1/jwks' })}.${payload}.${signature}`,
    },
    { describe: '8 KB of garbage', value: 'x'.repeat(8_192) },
    { describe: 'not base64url', value: '!!!.$$$.%%%' },
    { describe: 'empty', value: '' },
  ];
}
