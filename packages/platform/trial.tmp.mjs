const base = 'http://localhost:8080';
const rnd = Math.random().toString(36).slice(2, 8);
async function call(method, path, body, token, extra = {}) {
  const headers = { 'content-type': 'application/json', ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}
const key = () => crypto.randomUUID();
const show = (label, r) =>
  console.log(
    label,
    r.status,
    r.retryAfter ? `Retry-After ${r.retryAfter}` : '',
    JSON.stringify(r.json).slice(0, 220),
  );
const su = await call('POST', '/api/v1/auth/signup', {
  loginId: `t${rnd}`,
  password: 'secretpass123',
  name: '홍길동',
  rrn: `900101-1${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`,
  phone: '010-2345-6789',
});
show('signup', su);
const li = await call('POST', '/api/v1/auth/login', { loginId: `t${rnd}`, password: 'secretpass123' });
const token = li.json.accessToken;
show('me', await call('GET', '/api/v1/me', undefined, token));
const acc = await call('POST', '/api/v1/accounts', { alias: '생활비' }, token, { 'idempotency-key': key() });
show('account', acc);
const no = acc.json.accountNo;
const dep = await call('POST', `/api/v1/accounts/${no}/deposits`, { amount: 50000 }, token, {
  'idempotency-key': key(),
});
show('deposit', dep);
for (let i = 0; i < 50; i++) {
  const d = await call('GET', `/api/v1/deposits/${dep.json.depositId}`, undefined, token);
  if (d.json.status !== 'PENDING') {
    show('deposit read', d);
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
show(
  'points charge',
  await call('POST', '/api/v1/points/charge', { amount: 1000 }, token, { 'idempotency-key': key() }),
);
const pay = await call(
  'POST',
  '/api/v1/payments',
  { accountNo: no, cashAmount: 100000, pointAmount: 500 },
  token,
  { 'idempotency-key': key() },
);
show('payment (cash short)', pay);
for (let i = 0; i < 50; i++) {
  const p = await call('GET', `/api/v1/payments/${pay.json.paymentId}`, undefined, token);
  if (p.json.status !== 'PENDING') {
    show('payment read', p);
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
show('points after refund', await call('GET', '/api/v1/points', undefined, token));
show(
  'points charge 2,000,000 (too big)',
  await call('POST', '/api/v1/points/charge', { amount: 2000000 }, token, { 'idempotency-key': key() }),
);
show(
  'withdraw 3000',
  await call('POST', `/api/v1/accounts/${no}/withdrawals`, { amount: 3000 }, token, {
    'idempotency-key': key(),
  }),
);
if (process.env.KILL_CORE) {
  const { execSync } = await import('node:child_process');
  execSync('pkill -STOP -f [s]ervices/core-payment/src/server.ts');
  const t0 = Date.now();
  const w = await call('POST', `/api/v1/accounts/${no}/withdrawals`, { amount: 1000 }, token, {
    'idempotency-key': key(),
  });
  show(`withdraw while core frozen (${Date.now() - t0} ms)`, w);
  const d2 = await call('POST', `/api/v1/accounts/${no}/deposits`, { amount: 7000 }, token, {
    'idempotency-key': key(),
  });
  show('deposit while core frozen', d2);
  execSync('pkill -CONT -f [s]ervices/core-payment/src/server.ts');
  for (let i = 0; i < 100; i++) {
    const d = await call('GET', `/api/v1/deposits/${d2.json.depositId}`, undefined, token);
    if (d.json.status !== 'PENDING') {
      show('deposit after thaw', d);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  show('account', await call('GET', `/api/v1/accounts/${no}`, undefined, token));
}
