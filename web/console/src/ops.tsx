// The operator console (/ops): what runs, what waits, what failed, whether the
// books agree. Everything comes from the admin APIs under /api/v1/admin/*
// with the admin token, which lives in this page's memory only (a reload asks
// for it again). Nothing here ever shows an unmasked name, RRN or phone: the
// APIs carry none.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Problem, parseProblem } from './api.ts';
import { formatTime, formatWon } from './i18n.ts';
import { Field, parseAmountInput } from './ui.tsx';

type Services = {
  items: Array<{
    service: string;
    zone: string;
    ready: number;
    total: number;
    instances: Array<{ url: string; state: string; pid?: number; startedAt?: string; restarts?: number }>;
  }>;
};
type Lag = {
  items: Array<{ group: string; topic: string; lag: number; partitions: number }>;
  brokerReachable: boolean;
};
type Outbox = {
  items: Array<{
    service: string;
    reachable: boolean;
    pending: number | null;
    oldestAgeSeconds: number | null;
  }>;
};
type DeadLetters = {
  items: Array<{
    ref: string;
    topic: string;
    eventType: string | null;
    eventId: string | null;
    failedAt: string | null;
    group: string;
    kind: string;
    error: string;
    replayedAt: string | null;
  }>;
  byTopic: Array<{ topic: string; count: number }>;
};
type Payments = {
  byStatus: Record<string, number>;
  stuck: Array<{
    paymentId: string;
    status: string;
    cashAmount: number;
    pointAmount: number;
    createdAt: string;
  }>;
};
type Reconciliation = {
  ok: boolean;
  ranAt: string;
  services: Array<{ service: string; checks: Array<{ name: string; ok: boolean; detail: string }> }>;
};
type RateLimits = { windowSeconds: number; items: Array<{ limiter: string; refusals: number }> };
type Campaign = {
  campaignId: string;
  name: string;
  quantity: number;
  remaining: number;
  issued: number;
  startsAt: string | null;
  endsAt: string | null;
};

const refreshMs = 5_000;

async function admin<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1/admin/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new Problem(0, 'NETWORK', 'The gateway could not be reached');
  }
  if (!response.ok) throw await parseProblem(response);
  return (await response.json()) as T;
}

function useAdmin<T>(token: string, path: string, everyMs = refreshMs) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Problem | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  // `tick` is in the dependencies only to make reload() fetch again.
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = async () => {
      try {
        const answer = await admin<T>(token, 'GET', path);
        if (!alive) return;
        setData(answer);
        setError(undefined);
      } catch (caught) {
        if (alive) setError(caught as Problem);
      }
      if (alive) timer = setTimeout(once, everyMs);
    };
    void once();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [token, path, tick, everyMs]);
  return { data, error, reload };
}

function Failure(props: { error: Problem | undefined }) {
  if (props.error === undefined) return null;
  return (
    <p role="alert" class="error" data-code={props.error.code}>
      {props.error.status === 0
        ? 'The gateway could not be reached.'
        : `${props.error.code}: ${props.error.detail}`}
    </p>
  );
}

function Card(props: { title: string; children: preact.ComponentChildren }) {
  return (
    <section class="card" aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

function SignIn(props: { onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<Problem | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await admin(token.trim(), 'GET', 'services');
      props.onToken(token.trim());
    } catch (caught) {
      setError(caught as Problem);
    }
  };
  return (
    <section class="card">
      <h2>Operator sign-in</h2>
      <form onSubmit={submit}>
        <Field
          label="Admin token"
          name="adminToken"
          type="password"
          value={token}
          onInput={setToken}
          autoComplete="off"
          hint="NURI_ADMIN_TOKEN (npx nuri secrets shows where it is kept). Held in this page's memory only."
          required
        />
        <Failure error={error} />
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}

function ServicesCard(props: { token: string }) {
  const { data, error } = useAdmin<Services>(props.token, 'services');
  return (
    <Card title="Services and instances">
      <Failure error={error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Zone</th>
            <th scope="col">Ready</th>
            <th scope="col">Instances</th>
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((service) => (
            <tr key={service.service} data-service={service.service}>
              <th scope="row">{service.service}</th>
              <td>{service.zone}</td>
              <td class={service.ready > 0 ? 'ok' : 'bad'}>
                {service.ready}/{service.total}
              </td>
              <td>
                {service.instances.map((instance) => (
                  <div key={instance.url}>
                    {instance.url} · {instance.state}
                    {instance.pid !== undefined && ` · pid ${instance.pid}`}
                    {instance.restarts !== undefined && ` · restarts ${instance.restarts}`}
                    {instance.startedAt && ` · up since ${formatTime(instance.startedAt, 'en')}`}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function KafkaCard(props: { token: string }) {
  const lag = useAdmin<Lag>(props.token, 'kafka/lag');
  const outbox = useAdmin<Outbox>(props.token, 'outbox');
  return (
    <Card title="Kafka and outboxes">
      <Failure error={lag.error ?? outbox.error} />
      {lag.data && !lag.data.brokerReachable && (
        <p role="alert" class="bad">
          The Kafka broker is unreachable.
        </p>
      )}
      <h3>Consumer lag</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Topic</th>
            <th scope="col">Lag</th>
          </tr>
        </thead>
        <tbody>
          {(lag.data?.items ?? []).map((row) => (
            <tr key={`${row.group}/${row.topic}`}>
              <td>{row.group}</td>
              <td>{row.topic}</td>
              <td class={`num ${row.lag > 1000 ? 'bad' : ''}`}>{row.lag.toLocaleString('en-US')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Outbox backlog</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Pending</th>
            <th scope="col">Oldest</th>
          </tr>
        </thead>
        <tbody>
          {(outbox.data?.items ?? []).map((row) => (
            <tr key={row.service}>
              <td>{row.service}</td>
              <td class={`num ${row.reachable ? '' : 'bad'}`}>
                {row.pending === null ? 'unreachable' : row.pending.toLocaleString('en-US')}
              </td>
              <td class="num">{row.oldestAgeSeconds === null ? '—' : `${row.oldestAgeSeconds} s`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function DeadLettersCard(props: { token: string }) {
  // Every listing reads the DLQ topics with a short-lived consumer: not polled as often as the rest.
  const { data, error, reload } = useAdmin<DeadLetters>(props.token, 'dlq', 15_000);
  const [result, setResult] = useState<string | undefined>(undefined);
  const [replayError, setReplayError] = useState<Problem | undefined>(undefined);
  const replay = async (body: { refs: string[] } | { all: true }) => {
    setResult(undefined);
    setReplayError(undefined);
    try {
      const answer = await admin<{ replayed: string[]; skipped: string[] }>(
        props.token,
        'POST',
        'dlq/replays',
        body,
      );
      setResult(`Replayed ${answer.replayed.length}, skipped ${answer.skipped.length} (replayed before).`);
      reload();
    } catch (caught) {
      setReplayError(caught as Problem);
    }
  };
  return (
    <Card title="Dead letters">
      <Failure error={error ?? replayError} />
      {result && (
        <p role="status" class="notice">
          {result}
        </p>
      )}
      <p>
        {(data?.byTopic ?? []).length === 0
          ? 'No dead letters.'
          : data?.byTopic.map((row) => `${row.topic}: ${row.count}`).join(' · ')}
      </p>
      {(data?.items.length ?? 0) > 0 && (
        <>
          <button type="button" onClick={() => void replay({ all: true })}>
            Replay all
          </button>
          <table>
            <thead>
              <tr>
                <th scope="col">Letter</th>
                <th scope="col">Event</th>
                <th scope="col">Failed</th>
                <th scope="col">Error</th>
                <th scope="col">Replayed</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {data?.items.map((letter) => (
                <tr key={letter.ref}>
                  <td>
                    <code>{letter.ref}</code>
                  </td>
                  <td>{letter.eventType ?? '(not an event)'}</td>
                  <td>
                    {letter.failedAt ? formatTime(letter.failedAt, 'en') : '?'} in {letter.group}
                  </td>
                  <td>{letter.error}</td>
                  <td>{letter.replayedAt ? formatTime(letter.replayedAt, 'en') : 'no'}</td>
                  <td>
                    <button
                      type="button"
                      aria-label={`Replay ${letter.ref}`}
                      onClick={() => void replay({ refs: [letter.ref] })}
                    >
                      Replay
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

function PaymentsCard(props: { token: string }) {
  const { data, error } = useAdmin<Payments>(props.token, 'payments');
  return (
    <Card title="Payments">
      <Failure error={error} />
      {data && (
        <p>
          {Object.entries(data.byStatus)
            .map(([status, count]) => `${status}: ${count.toLocaleString('en-US')}`)
            .join(' · ')}
        </p>
      )}
      {data?.stuck.length === 0 ? (
        <p>No payment is stuck.</p>
      ) : (
        <ul>
          {data?.stuck.map((payment) => (
            <li key={payment.paymentId}>
              <code>{payment.paymentId}</code> {payment.status} · cash {formatWon(payment.cashAmount)} ·
              points {formatWon(payment.pointAmount)} · since {formatTime(payment.createdAt, 'en')}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function ReconciliationCard(props: { token: string }) {
  const [report, setReport] = useState<Reconciliation | undefined>(undefined);
  const [error, setError] = useState<Problem | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setReport(await admin<Reconciliation>(props.token, 'POST', 'reconciliations', {}));
    } catch (caught) {
      setError(caught as Problem);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Reconciliation">
      <button type="button" disabled={busy} onClick={() => void run()}>
        Run reconciliation
      </button>
      <Failure error={error} />
      {report && (
        <div role="status">
          <p class={report.ok ? 'ok' : 'bad'}>
            {report.ok ? 'The books agree.' : 'Mismatches found.'} ({formatTime(report.ranAt, 'en')})
          </p>
          <ul>
            {report.services.flatMap((service) =>
              service.checks.map((check) => (
                <li key={`${service.service}/${check.name}`} class={check.ok ? '' : 'bad'}>
                  {check.ok ? '✓' : '✗'} {service.service}: {check.name} — {check.detail}
                </li>
              )),
            )}
          </ul>
        </div>
      )}
    </Card>
  );
}

function CampaignsCard(props: { token: string }) {
  const { data, error, reload } = useAdmin<{ items: Campaign[] }>(props.token, 'coupon-campaigns', 2_000);
  const [form, setForm] = useState({ name: '', quantity: '', startsAt: '', endsAt: '' });
  const [createError, setCreateError] = useState<Problem | undefined>(undefined);
  const [created, setCreated] = useState<string | undefined>(undefined);
  const create = async (event: Event) => {
    event.preventDefault();
    setCreated(undefined);
    setCreateError(undefined);
    const quantity = parseAmountInput(form.quantity);
    if (form.name.trim() === '' || quantity === undefined) {
      setCreateError(new Problem(400, 'VALIDATION_FAILED', 'A name and a whole quantity are needed'));
      return;
    }
    const body: Record<string, unknown> = { name: form.name.trim(), quantity };
    // datetime-local is the operator's local time; the API takes an instant.
    if (form.startsAt !== '') body.startsAt = new Date(form.startsAt).toISOString();
    if (form.endsAt !== '') body.endsAt = new Date(form.endsAt).toISOString();
    try {
      const campaign = await admin<Campaign>(props.token, 'POST', 'coupon-campaigns', body);
      setCreated(`Created ${campaign.name} (${campaign.campaignId})`);
      setForm({ name: '', quantity: '', startsAt: '', endsAt: '' });
      reload();
    } catch (caught) {
      setCreateError(caught as Problem);
    }
  };
  return (
    <Card title="Coupon campaigns">
      <Failure error={error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Campaign</th>
            <th scope="col">Remaining</th>
            <th scope="col">Issued</th>
            <th scope="col">Window</th>
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((campaign) => (
            <tr key={campaign.campaignId}>
              <td>{campaign.name}</td>
              <td class="num">
                {campaign.remaining.toLocaleString('en-US')} / {campaign.quantity.toLocaleString('en-US')}
              </td>
              <td class="num">{campaign.issued.toLocaleString('en-US')}</td>
              <td>
                {campaign.startsAt ? formatTime(campaign.startsAt, 'en') : 'now'} –{' '}
                {campaign.endsAt ? formatTime(campaign.endsAt, 'en') : 'open'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>New campaign</h3>
      <form onSubmit={create}>
        <Field
          label="Campaign name"
          name="name"
          value={form.name}
          onInput={(name) => setForm((current) => ({ ...current, name }))}
          maxLength={100}
          required
        />
        <Field
          label="Quantity"
          name="quantity"
          value={form.quantity}
          onInput={(quantity) => setForm((current) => ({ ...current, quantity }))}
          inputMode="numeric"
          hint="1 – 10,000,000"
          required
        />
        <Field
          label="Starts at"
          name="startsAt"
          type="datetime-local"
          value={form.startsAt}
          onInput={(startsAt) => setForm((current) => ({ ...current, startsAt }))}
        />
        <Field
          label="Ends at"
          name="endsAt"
          type="datetime-local"
          value={form.endsAt}
          onInput={(endsAt) => setForm((current) => ({ ...current, endsAt }))}
        />
        <Failure error={createError} />
        {created && (
          <p role="status" class="notice">
            {created}
          </p>
        )}
        <button type="submit">Create campaign</button>
      </form>
    </Card>
  );
}

function RateLimitsCard(props: { token: string }) {
  const { data, error } = useAdmin<RateLimits>(props.token, 'rate-limits');
  return (
    <Card title="Rate-limit refusals">
      <Failure error={error} />
      <p>Last {Math.round((data?.windowSeconds ?? 3600) / 60)} minutes.</p>
      <ul>
        {(data?.items ?? []).map((row) => (
          <li key={row.limiter}>
            {row.limiter}: <span data-limiter={row.limiter}>{row.refusals.toLocaleString('en-US')}</span>
          </li>
        ))}
      </ul>
    </Card>
  );
}

function Ops() {
  const [token, setToken] = useState<string | undefined>(undefined);
  useEffect(() => {
    document.title = 'Nuri Bank operations';
  }, []);
  return (
    <>
      <header class="top">
        <a class="brand" href="/ops">
          Nuri Bank operations
        </a>
        {token !== undefined && (
          <button type="button" class="secondary" onClick={() => setToken(undefined)}>
            Sign out
          </button>
        )}
      </header>
      <main>
        {token === undefined ? (
          <SignIn onToken={setToken} />
        ) : (
          <>
            <ServicesCard token={token} />
            <KafkaCard token={token} />
            <DeadLettersCard token={token} />
            <PaymentsCard token={token} />
            <ReconciliationCard token={token} />
            <CampaignsCard token={token} />
            <RateLimitsCard token={token} />
          </>
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<Ops />, root);
