// The console's only door to the bank: same-origin fetches through the gateway.
// The access token lives in this module's memory and nowhere else (never in
// storage, a URL or a log); the refresh token is the HttpOnly cookie that
// channel-user's web-session routes set, which this script cannot read.

export class Problem extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, code: string, detail: string, retryAfterSeconds?: number) {
    super(`${status} ${code}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }
  /** A definite answer: the server decided (4xx). Anything else may be retried with the same key. */
  get definite(): boolean {
    return (
      this.status >= 400 &&
      this.status < 500 &&
      this.status !== 429 &&
      this.code !== 'IDEMPOTENCY_KEY_IN_PROGRESS'
    );
  }
}

type SessionListener = (signedIn: boolean, reason?: 'expired') => void;

let accessToken: string | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
const listeners = new Set<SessionListener>();

export function onSessionChange(listener: SessionListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function announce(signedIn: boolean, reason?: 'expired'): void {
  for (const listener of listeners) listener(signedIn, reason);
}

function adopt(answer: { accessToken: string; expiresIn: number }): void {
  accessToken = answer.accessToken;
  clearTimeout(refreshTimer);
  // Refresh a minute before expiry (or halfway, for short-lived tokens).
  const lead = Math.min(60, answer.expiresIn / 2);
  refreshTimer = setTimeout(() => void refreshSession(), (answer.expiresIn - lead) * 1000);
}

function forget(reason?: 'expired'): void {
  const was = accessToken !== undefined;
  accessToken = undefined;
  clearTimeout(refreshTimer);
  if (was || reason !== undefined) announce(false, reason);
}

export function isSignedIn(): boolean {
  return accessToken !== undefined;
}

/** A non-2xx answer as a Problem: its problem+json `code` and `detail`, and Retry-After. */
export async function parseProblem(response: Response): Promise<Problem> {
  let code = 'HTTP_ERROR';
  let detail = response.statusText;
  try {
    const body = (await response.json()) as { code?: string; detail?: string };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.detail === 'string') detail = body.detail;
  } catch {
    // Not problem+json (a proxy's page): the status alone speaks.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return new Problem(response.status, code, detail, Number.isFinite(retryAfter) ? retryAfter : undefined);
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new Problem(0, 'NETWORK', 'The bank could not be reached');
  }
}

export interface CallOptions {
  /** One key per user intent: a retry of the same intent sends the same key. */
  idempotencyKey?: string;
  anonymous?: boolean;
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<T> {
  const attempt = async (): Promise<Response> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (!options.anonymous && accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`;
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    return send(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let response = await attempt();
  if (response.status === 401 && !options.anonymous) {
    // The access token expired (or the tab slept through the timer): one refresh, one retry.
    if (await refreshSession()) response = await attempt();
    else {
      forget('expired');
      throw await parseProblem(response);
    }
  }
  if (!response.ok) throw await parseProblem(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function logIn(loginId: string, password: string): Promise<void> {
  const response = await send('/api/v1/auth/web-session', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ loginId, password }),
  });
  if (!response.ok) throw await parseProblem(response);
  adopt((await response.json()) as { accessToken: string; expiresIn: number });
  announce(true);
}

/** Trade the cookie for a fresh access token; false when there is no session (or it was revoked). */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await send('/api/v1/auth/web-session/refresh', {
        method: 'POST',
        headers: { 'x-nuri-web': '1', accept: 'application/json' },
      });
      if (!response.ok) {
        if (accessToken !== undefined) forget('expired');
        return false;
      }
      const wasSignedIn = accessToken !== undefined;
      adopt((await response.json()) as { accessToken: string; expiresIn: number });
      if (!wasSignedIn) announce(true);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

export async function logOut(): Promise<void> {
  try {
    await send('/api/v1/auth/web-session/logout', {
      method: 'POST',
      headers: { 'x-nuri-web': '1', authorization: `Bearer ${accessToken ?? ''}` },
    });
  } finally {
    forget();
  }
}

/** A fresh key for a new intent (crypto.randomUUID is 36 chars of [0-9a-f-], inside the 64 allowed). */
export function newIntentKey(): string {
  return crypto.randomUUID();
}
