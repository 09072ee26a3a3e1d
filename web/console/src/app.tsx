// The customer console (issue 17): Preact components over the public API,
// routed by the URL's hash so the gateway serves one page.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, isSignedIn, logIn, logOut, onSessionChange, type Problem, refreshSession } from './api.ts';
import { useIntent, useResource } from './hooks.ts';
import { formatTime, formatWon, type Lang, pickLang, type Words, wordsFor } from './i18n.ts';
import { Field, Notice, ProblemMessage, parseAmountInput, Section } from './ui.tsx';

type Account = {
  accountNo: string;
  alias: string | null;
  balance: number;
  currency: string;
  status: string;
  openedAt: string;
};
type Transaction = {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  reference?: string | null;
  createdAt: string;
  counterparty?: { maskedName: string; accountNoLast4: string };
  memo?: string | null;
};
type Page<T> = { items: T[]; nextCursor: string | null };
type Profile = {
  userUuid: string;
  loginId: string;
  maskedName: string;
  maskedRrn: string;
  maskedPhone: string | null;
};
type Deposit = {
  depositId: string;
  accountNo: string;
  amount: number;
  status: string;
  balanceAfter?: number;
  failureCode?: string;
};
type Payment = {
  paymentId: string;
  orderId: string;
  status: string;
  cashAmount: number;
  pointAmount: number;
  failureCode?: string;
  createdAt: string;
  settledAt?: string;
};
type Campaign = {
  campaignId: string;
  name: string;
  quantity: number;
  remaining: number;
  issued: number;
  startsAt: string | null;
  endsAt: string | null;
};
type Coupon = { couponId: string; campaignId: string; code: string; issuedAt: string };

const accountNoPattern = /^\d{3}-\d{3}-\d{6}$/;

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return hash;
}

function go(path: string): void {
  location.hash = `#${path}`;
}

function App(props: { lang: Lang }) {
  const words = wordsFor(props.lang);
  const [session, setSession] = useState<'unknown' | 'in' | 'out'>('unknown');
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const hash = useHash();

  useEffect(() => {
    const stop = onSessionChange((signedIn, reason) => {
      setSession(signedIn ? 'in' : 'out');
      if (reason === 'expired') setNotice(words.sessionExpired);
    });
    // A reload keeps the session through the HttpOnly cookie, never through storage.
    void refreshSession().then((ok) => setSession(ok || isSignedIn() ? 'in' : 'out'));
    return stop;
  }, [words]);

  useEffect(() => {
    document.documentElement.lang = props.lang;
    document.title = words.appName;
  }, [props.lang, words]);

  if (session === 'unknown') return <p class="loading">{words.loading}</p>;
  const route = hash.replace(/^#/, '') || '/';
  if (session === 'out') {
    return (
      <Shell words={words} lang={props.lang}>
        {notice && <Notice>{notice}</Notice>}
        {route === '/signup' ? (
          <SignUp words={words} />
        ) : (
          <LogIn words={words} onIn={() => setNotice(undefined)} />
        )}
      </Shell>
    );
  }
  return (
    <Shell words={words} lang={props.lang} signedIn>
      <Routed route={route} words={words} lang={props.lang} />
    </Shell>
  );
}

function Routed(props: { route: string; words: Words; lang: Lang }) {
  const { route, words, lang } = props;
  const [path, query = ''] = route.split('?');
  const params = new URLSearchParams(query);
  const account = /^\/accounts\/(\d{3}-\d{3}-\d{6})$/.exec(path ?? '');
  if (account) return <AccountPage accountNo={account[1]!} words={words} lang={lang} />;
  const payment = /^\/payments\/([0-9a-f-]{36})$/.exec(path ?? '');
  if (payment) return <PaymentPage paymentId={payment[1]!} words={words} lang={lang} />;
  switch (path) {
    case '/':
    case '/accounts':
    case '/signup':
      return <Accounts words={words} />;
    case '/transfer':
      return <Transfer words={words} from={params.get('from') ?? undefined} />;
    case '/points':
      return <Points words={words} lang={lang} />;
    case '/coupons':
      return <Coupons words={words} lang={lang} />;
    default:
      return <p>{words.notFound}</p>;
  }
}

function Shell(props: { words: Words; lang: Lang; signedIn?: boolean; children: preact.ComponentChildren }) {
  const { words } = props;
  const other: Lang = props.lang === 'ko' ? 'en' : 'ko';
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          {words.appName}
        </a>
        {props.signedIn && (
          <nav aria-label={words.appName}>
            <a href="#/">{words.accounts}</a>
            <a href="#/transfer">{words.transfer}</a>
            <a href="#/points">{words.points}</a>
            <a href="#/coupons">{words.coupons}</a>
          </nav>
        )}
        <div class="session">
          {props.signedIn && <Me words={words} />}
          <a href={`?lang=${other}${location.hash}`} lang={other} hreflang={other}>
            {other === 'ko' ? '한국어' : 'English'}
          </a>
          {props.signedIn && (
            <button type="button" class="secondary" onClick={() => void logOut()}>
              {words.logOut}
            </button>
          )}
        </div>
      </header>
      <main>{props.children}</main>
    </>
  );
}

function Me(props: { words: Words }) {
  const me = useResource<Profile>('/api/v1/me');
  if (me.data === undefined) return null;
  return (
    <span class="me">
      <span class="visually-hidden">{props.words.signedInAs} </span>
      <span data-testid="masked-name">{me.data.maskedName}</span>
    </span>
  );
}

function LogIn(props: { words: Words; onIn: () => void }) {
  const { words } = props;
  const [loginId, setLoginId] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<Problem | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await logIn(loginId.trim(), password);
      props.onIn();
      if (location.hash === '#/signup') go('/');
    } catch (caught) {
      setError(caught as Problem);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title={words.logIn}>
      <form onSubmit={submit} noValidate>
        <Field
          label={words.loginId}
          name="loginId"
          value={loginId}
          onInput={setLoginId}
          autoComplete="username"
          required
        />
        <Field
          label={words.password}
          name="password"
          type="password"
          value={password}
          onInput={setPassword}
          autoComplete="current-password"
          required
        />
        <ProblemMessage problem={error} words={words} />
        <button type="submit" disabled={busy}>
          {words.logIn}
        </button>
      </form>
      <p>
        {words.haveNoLogin} <a href="#/signup">{words.signUp}</a>
      </p>
    </Section>
  );
}

const rules = {
  loginId: /^[a-z0-9_]{4,20}$/,
  password: /^(?=.*[A-Za-z])(?=.*\d).{10,128}$/s,
  name: /^[A-Za-z가-힣 ]{1,50}$/,
  rrn: /^\d{6}-?[1-8]\d{6}$/,
  phone: /^01\d-?\d{3,4}-?\d{4}$/,
};

function SignUp(props: { words: Words }) {
  const { words } = props;
  const [form, setForm] = useState({ loginId: '', password: '', name: '', rrn: '', phone: '' });
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<Problem | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  // The login id this form created: when signing in right after failed, the
  // account exists, the form is locked to what created it, and pressing again
  // only signs in (a second sign-up would be refused LOGIN_ID_TAKEN).
  const [created, setCreated] = useState<string | undefined>(undefined);
  const locked = created !== undefined;
  const set = (key: keyof typeof form) => (value: string) =>
    setForm((current) => ({ ...current, [key]: value }));
  const invalid = {
    loginId: !rules.loginId.test(form.loginId),
    password: !rules.password.test(form.password),
    name: !rules.name.test(form.name.trim()),
    rrn: !rules.rrn.test(form.rrn),
    phone: form.phone !== '' && !rules.phone.test(form.phone),
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setTouched(true);
    if (Object.values(invalid).some(Boolean)) return;
    setBusy(true);
    setError(undefined);
    try {
      if (!locked) {
        const body: Record<string, string> = {
          loginId: form.loginId,
          password: form.password,
          name: form.name.trim(),
          rrn: form.rrn,
        };
        if (form.phone !== '') body.phone = form.phone;
        await call('POST', '/api/v1/auth/signup', body, { anonymous: true });
        setCreated(form.loginId);
      }
      await logIn(form.loginId, form.password);
      go('/');
    } catch (caught) {
      setError(caught as Problem);
    } finally {
      setBusy(false);
    }
  };
  const shown = (key: keyof typeof invalid, rule: string) => (touched && invalid[key] ? rule : undefined);
  return (
    <Section title={words.signUp}>
      <form onSubmit={submit} noValidate>
        <Field
          label={words.loginId}
          name="loginId"
          value={form.loginId}
          onInput={set('loginId')}
          hint={words.loginIdRule}
          error={shown('loginId', words.loginIdRule)}
          autoComplete="username"
          required
          readOnly={locked}
        />
        <Field
          label={words.password}
          name="password"
          type="password"
          value={form.password}
          onInput={set('password')}
          hint={words.passwordRule}
          error={shown('password', words.passwordRule)}
          autoComplete="new-password"
          required
          readOnly={locked}
        />
        <Field
          label={words.name}
          name="name"
          value={form.name}
          onInput={set('name')}
          hint={words.nameRule}
          error={shown('name', words.nameRule)}
          autoComplete="name"
          required
          readOnly={locked}
        />
        <Field
          label={words.rrn}
          name="rrn"
          type="password"
          value={form.rrn}
          onInput={set('rrn')}
          hint={words.rrnRule}
          error={shown('rrn', words.rrnRule)}
          autoComplete="off"
          required
          readOnly={locked}
        />
        <Field
          label={words.phone}
          name="phone"
          type="tel"
          value={form.phone}
          onInput={set('phone')}
          hint={words.phoneRule}
          error={shown('phone', words.phoneRule)}
          autoComplete="tel"
          readOnly={locked}
        />
        {/* Always there, so that a screen reader announces the words when they come. */}
        <p role="status">{created === undefined ? '' : words.createdNotSignedIn(created)}</p>
        <ProblemMessage problem={error} words={words} />
        <button type="submit" disabled={busy}>
          {locked ? words.logIn : words.signUp}
        </button>
      </form>
      <p>
        {words.haveLogin} <a href="#/login">{words.logIn}</a>
      </p>
    </Section>
  );
}

function Accounts(props: { words: Words }) {
  const { words } = props;
  const accounts = useResource<{ items: Account[] }>('/api/v1/accounts');
  const [alias, setAlias] = useState('');
  const opening = useIntent<Account>();
  const open = async (event: Event) => {
    event.preventDefault();
    const body = alias.trim() === '' ? {} : { alias: alias.trim() };
    const opened = await opening.run('POST', '/api/v1/accounts', body);
    if (opened !== undefined) {
      setAlias('');
      accounts.reload();
    }
  };
  return (
    <>
      <Section title={words.yourAccounts}>
        <ProblemMessage problem={accounts.error} words={words} />
        {accounts.data === undefined ? (
          accounts.loading && <p>{words.loading}</p>
        ) : accounts.data.items.length === 0 ? (
          <p>{words.noAccounts}</p>
        ) : (
          <ul class="accounts">
            {accounts.data.items.map((account) => (
              <li key={account.accountNo}>
                <a href={`#/accounts/${account.accountNo}`}>
                  <span class="account-no">{account.accountNo}</span>
                  {account.alias && <span class="alias">{account.alias}</span>}
                </a>
                <span class="balance">{formatWon(account.balance)}</span>
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title={words.openAccount}>
        <form onSubmit={open}>
          <Field label={words.alias} name="alias" value={alias} onInput={setAlias} maxLength={30} />
          <ProblemMessage problem={opening.error} words={words} />
          <button type="submit" disabled={opening.busy}>
            {words.openAccount}
          </button>
        </form>
      </Section>
    </>
  );
}

function AccountPage(props: { accountNo: string; words: Words; lang: Lang }) {
  const { accountNo, words, lang } = props;
  const account = useResource<Account>(`/api/v1/accounts/${accountNo}`);
  const [pages, setPages] = useState<Transaction[][]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [historyError, setHistoryError] = useState<Problem | undefined>(undefined);
  const [amount, setAmount] = useState('');
  const [amountError, setAmountError] = useState<string | undefined>(undefined);
  const [deposits, setDeposits] = useState<Deposit[]>([]);
  const [done, setDone] = useState<string | undefined>(undefined);
  const depositing = useIntent<Deposit>();
  const withdrawing = useIntent<{ withdrawalId: string; balanceAfter: number }>();

  const loadHistory = async (from: string | null | undefined, replace: boolean) => {
    try {
      const query = new URLSearchParams({ limit: '20' });
      if (from) query.set('cursor', from);
      const page = await call<Page<Transaction>>(
        'GET',
        `/api/v1/accounts/${accountNo}/transactions?${query}`,
      );
      setPages((previous) => (replace ? [page.items] : [...previous, page.items]));
      setCursor(page.nextCursor);
      setHistoryError(undefined);
    } catch (caught) {
      setHistoryError(caught as Problem);
    }
  };
  const refresh = () => {
    account.reload();
    void loadHistory(undefined, true);
  };
  // The first page, once per account.
  useEffect(() => {
    void loadHistory(undefined, true);
  }, [accountNo]);

  // Deposits settle through Kafka: watch each until it is COMPLETED or FAILED, then show the new balance.
  useEffect(() => {
    const waiting = deposits.filter((deposit) => deposit.status === 'PENDING');
    if (waiting.length === 0) return;
    const timer = setTimeout(async () => {
      const updated = await Promise.all(
        deposits.map((deposit) =>
          deposit.status === 'PENDING'
            ? call<Deposit>('GET', `/api/v1/deposits/${deposit.depositId}`).catch(() => deposit)
            : deposit,
        ),
      );
      setDeposits(updated);
      if (updated.some((deposit, index) => deposit.status !== deposits[index]?.status)) refresh();
    }, 400);
    return () => clearTimeout(timer);
  });

  const act = async (kind: 'deposit' | 'withdraw') => {
    setDone(undefined);
    const value = parseAmountInput(amount);
    if (value === undefined || value > 100_000_000) {
      setAmountError(words.errors.VALIDATION_FAILED);
      return;
    }
    setAmountError(undefined);
    if (kind === 'deposit') {
      const deposit = await depositing.run('POST', `/api/v1/accounts/${accountNo}/deposits`, {
        amount: value,
      });
      if (deposit !== undefined) {
        setDeposits((previous) => [deposit, ...previous].slice(0, 10));
        setAmount('');
        setDone(words.depositAccepted);
      }
    } else {
      const withdrawal = await withdrawing.run('POST', `/api/v1/accounts/${accountNo}/withdrawals`, {
        amount: value,
      });
      if (withdrawal !== undefined) {
        setAmount('');
        setDone(
          `${words.withdrawn}: ${formatWon(value)} · ${words.balance} ${formatWon(withdrawal.balanceAfter)}`,
        );
        refresh();
      }
    }
  };

  if (account.error?.status === 404) return <ProblemMessage problem={account.error} words={words} />;
  const items = pages.flat();
  return (
    <>
      <Section title={`${words.account} ${accountNo}`}>
        <ProblemMessage problem={account.error} words={words} />
        {account.data && (
          <p class="big-balance">
            {account.data.alias && <span class="alias">{account.data.alias} · </span>}
            {words.balance} <strong data-testid="balance">{formatWon(account.data.balance)}</strong>
          </p>
        )}
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void act('deposit');
          }}
        >
          <Field
            label={words.amount}
            name="amount"
            value={amount}
            onInput={setAmount}
            inputMode="numeric"
            error={amountError}
            required
          />
          <ProblemMessage problem={depositing.error ?? withdrawing.error} words={words} />
          {done && <Notice>{done}</Notice>}
          <div class="buttons">
            <button type="submit" disabled={depositing.busy || withdrawing.busy}>
              {words.deposit}
            </button>
            <button
              type="button"
              disabled={depositing.busy || withdrawing.busy}
              onClick={() => void act('withdraw')}
            >
              {words.withdraw}
            </button>
            <a class="button-link" href={`#/transfer?from=${accountNo}`}>
              {words.transfer}
            </a>
          </div>
        </form>
        {deposits.length > 0 && (
          <>
            <h3>{words.recentDeposits}</h3>
            <ul class="deposits" aria-live="polite">
              {deposits.map((deposit) => (
                <li key={deposit.depositId} data-status={deposit.status}>
                  {words.deposit} {formatWon(deposit.amount)} —{' '}
                  <span class={`status status-${deposit.status.toLowerCase()}`}>
                    {words.statusLabels[deposit.status] ?? deposit.status}
                  </span>
                  {deposit.failureCode && ` (${words.errors[deposit.failureCode] ?? deposit.failureCode})`}
                </li>
              ))}
            </ul>
          </>
        )}
      </Section>
      <Section title={words.transactions}>
        <ProblemMessage problem={historyError} words={words} />
        {items.length === 0 ? (
          <p>{words.noTransactions}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">{words.when}</th>
                <th scope="col">{words.type}</th>
                <th scope="col">{words.amount}</th>
                <th scope="col">{words.balanceAfter}</th>
                <th scope="col">{words.details}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={item.id}>
                  <td>{formatTime(item.createdAt, lang)}</td>
                  <td>{words.typeLabels[item.type] ?? item.type}</td>
                  <td class="num">{formatWon(item.amount)}</td>
                  <td class="num">{formatWon(item.balanceAfter)}</td>
                  <td>
                    {item.counterparty &&
                      `${item.counterparty.maskedName} (…${item.counterparty.accountNoLast4})`}
                    {item.memo && ` · ${item.memo}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {cursor && (
          <button type="button" class="secondary" onClick={() => void loadHistory(cursor, false)}>
            {words.loadMore}
          </button>
        )}
      </Section>
    </>
  );
}

function Transfer(props: { words: Words; from?: string }) {
  const { words } = props;
  const accounts = useResource<{ items: Account[] }>('/api/v1/accounts');
  const [from, setFrom] = useState(props.from ?? '');
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [memo, setMemo] = useState('');
  const [recipient, setRecipient] = useState<{ accountNo: string; holderMaskedName: string } | undefined>();
  const [lookupError, setLookupError] = useState<Problem | undefined>(undefined);
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [sent, setSent] = useState<
    { transferId: string; amount: number; balanceAfter: number } | undefined
  >();
  const sending = useIntent<{ transferId: string; amount: number; balanceAfter: number }>();
  useEffect(() => {
    const first = accounts.data?.items[0];
    if (from === '' && first !== undefined) setFrom(first.accountNo);
  }, [accounts.data, from]);

  const lookUp = async () => {
    setRecipient(undefined);
    setLookupError(undefined);
    const number = to.trim();
    if (!accountNoPattern.test(number)) {
      setFormError(words.errors.RECIPIENT_NOT_FOUND);
      return;
    }
    setFormError(undefined);
    try {
      setRecipient(await call('GET', `/api/v1/transfer-recipients/${number}`));
    } catch (caught) {
      setLookupError(caught as Problem);
    }
  };
  const send = async (event: Event) => {
    event.preventDefault();
    setSent(undefined);
    const value = parseAmountInput(amount);
    if (recipient === undefined || value === undefined || value > 100_000_000) {
      setFormError(recipient === undefined ? words.checkRecipient : words.errors.VALIDATION_FAILED);
      return;
    }
    if (recipient.accountNo === from) {
      setFormError(words.errors.SAME_ACCOUNT);
      return;
    }
    setFormError(undefined);
    const body: Record<string, unknown> = {
      fromAccountNo: from,
      toAccountNo: recipient.accountNo,
      amount: value,
    };
    if (memo.trim() !== '') body.memo = memo.trim();
    const answer = await sending.run('POST', '/api/v1/transfers', body);
    if (answer !== undefined) {
      setSent(answer);
      setAmount('');
      setMemo('');
    }
  };
  return (
    <Section title={words.transfer}>
      <form onSubmit={send}>
        <div class="field">
          <label for="transfer-from">{words.from}</label>
          <select
            id="transfer-from"
            value={from}
            onChange={(event) => setFrom((event.currentTarget as HTMLSelectElement).value)}
          >
            {(accounts.data?.items ?? []).map((account) => (
              <option key={account.accountNo} value={account.accountNo}>
                {account.accountNo} ({formatWon(account.balance)})
              </option>
            ))}
          </select>
        </div>
        <Field
          label={words.toAccount}
          name="toAccountNo"
          value={to}
          onInput={(value) => {
            setTo(value);
            setRecipient(undefined);
          }}
          hint="000-000-000000"
        />
        <button type="button" class="secondary" onClick={() => void lookUp()}>
          {words.checkRecipient}
        </button>
        <ProblemMessage problem={lookupError} words={words} />
        {recipient && (
          <p class="recipient" role="status">
            {words.recipient}: <strong data-testid="recipient-name">{recipient.holderMaskedName}</strong> (
            {recipient.accountNo})
          </p>
        )}
        <Field
          label={words.amount}
          name="amount"
          value={amount}
          onInput={setAmount}
          inputMode="numeric"
          required
        />
        <Field label={words.memo} name="memo" value={memo} onInput={setMemo} maxLength={20} />
        {formError && (
          <p role="alert" class="error">
            {formError}
          </p>
        )}
        <ProblemMessage problem={sending.error} words={words} />
        {recipient && parseAmountInput(amount) !== undefined && (
          <p class="confirm">
            {words.confirmSend(recipient.holderMaskedName, formatWon(parseAmountInput(amount)!))}
          </p>
        )}
        <button type="submit" disabled={sending.busy || recipient === undefined}>
          {words.send}
        </button>
        {sent && (
          <Notice>
            {words.sent}: {formatWon(sent.amount)} · {words.balance} {formatWon(sent.balanceAfter)}
          </Notice>
        )}
      </form>
    </Section>
  );
}

type PointEntry = {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  paymentId?: string;
  createdAt: string;
};

function Points(props: { words: Words; lang: Lang }) {
  const { words, lang } = props;
  const balance = useResource<{ balance: number }>('/api/v1/points');
  const history = useResource<Page<PointEntry>>('/api/v1/points/history?limit=20');
  const accounts = useResource<{ items: Account[] }>('/api/v1/accounts');
  const [charge, setCharge] = useState('');
  const charging = useIntent<{ balance: number }>();
  const [pay, setPay] = useState({ accountNo: '', cash: '', points: '', merchant: '' });
  const paying = useIntent<Payment>();
  const [payError, setPayError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const first = accounts.data?.items[0];
    if (pay.accountNo === '' && first !== undefined)
      setPay((previous) => ({ ...previous, accountNo: first.accountNo }));
  }, [accounts.data, pay.accountNo]);

  const doCharge = async (event: Event) => {
    event.preventDefault();
    const value = parseAmountInput(charge);
    if (value === undefined || value > 1_000_000) {
      charging.setError(undefined);
      setPayError(undefined);
      return;
    }
    if ((await charging.run('POST', '/api/v1/points/charge', { amount: value })) !== undefined) {
      setCharge('');
      balance.reload();
      history.reload();
    }
  };
  const doPay = async (event: Event) => {
    event.preventDefault();
    const cash = pay.cash === '' ? 0 : parseAmountInput(pay.cash);
    const points = pay.points === '' ? 0 : parseAmountInput(pay.points);
    if (cash === undefined || points === undefined || cash + points === 0) {
      setPayError(words.errors.VALIDATION_FAILED);
      return;
    }
    setPayError(undefined);
    const body: Record<string, unknown> = { accountNo: pay.accountNo, cashAmount: cash, pointAmount: points };
    if (pay.merchant.trim() !== '') body.merchant = pay.merchant.trim();
    const payment = await paying.run('POST', '/api/v1/payments', body);
    if (payment !== undefined) go(`/payments/${payment.paymentId}`);
  };
  return (
    <>
      <Section title={words.points}>
        <p class="big-balance">
          {words.pointBalance}{' '}
          <strong data-testid="point-balance">{balance.data ? formatWon(balance.data.balance) : '…'}</strong>
        </p>
        <form onSubmit={doCharge}>
          <Field
            label={words.amount}
            name="amount"
            value={charge}
            onInput={setCharge}
            inputMode="numeric"
            hint="1 – 1,000,000"
          />
          <ProblemMessage problem={charging.error} words={words} />
          <button type="submit" disabled={charging.busy}>
            {words.charge}
          </button>
        </form>
      </Section>
      <Section title={words.pay}>
        <form onSubmit={doPay}>
          <div class="field">
            <label for="pay-account">{words.from}</label>
            <select
              id="pay-account"
              value={pay.accountNo}
              onChange={(event) => {
                // Read now: the event's currentTarget is gone by the time the update runs.
                const accountNo = (event.currentTarget as HTMLSelectElement).value;
                setPay((current) => ({ ...current, accountNo }));
              }}
            >
              {(accounts.data?.items ?? []).map((account) => (
                <option key={account.accountNo} value={account.accountNo}>
                  {account.accountNo} ({formatWon(account.balance)})
                </option>
              ))}
            </select>
          </div>
          <Field
            label={words.cashAmount}
            name="cashAmount"
            value={pay.cash}
            onInput={(cash) => setPay((current) => ({ ...current, cash }))}
            inputMode="numeric"
          />
          <Field
            label={words.pointAmount}
            name="pointAmount"
            value={pay.points}
            onInput={(points) => setPay((current) => ({ ...current, points }))}
            inputMode="numeric"
          />
          <Field
            label={words.merchant}
            name="merchant"
            value={pay.merchant}
            onInput={(merchant) => setPay((current) => ({ ...current, merchant }))}
            maxLength={50}
          />
          {payError && (
            <p role="alert" class="error">
              {payError}
            </p>
          )}
          <ProblemMessage problem={paying.error} words={words} />
          <button type="submit" disabled={paying.busy || pay.accountNo === ''}>
            {words.pay}
          </button>
        </form>
      </Section>
      <Section title={words.pointHistory}>
        <ProblemMessage problem={history.error} words={words} />
        <ul class="history">
          {(history.data?.items ?? []).map((entry) => (
            <li key={entry.id}>
              {formatTime(entry.createdAt, lang)} · {words.typeLabels[entry.type] ?? entry.type}{' '}
              {formatWon(entry.amount)} → {formatWon(entry.balanceAfter)}
              {entry.paymentId && (
                <>
                  {' '}
                  · <a href={`#/payments/${entry.paymentId}`}>{words.payment}</a>
                </>
              )}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

function PaymentPage(props: { paymentId: string; words: Words; lang: Lang }) {
  const { words, lang } = props;
  const payment = useResource<Payment>(`/api/v1/payments/${props.paymentId}`, {
    everyMs: 500,
    keepPolling: (data) => data.status === 'PENDING',
  });
  const data = payment.data;
  type Step = { label: string; state: 'done' | 'active' | 'failed' | 'waiting'; detail?: string };
  const steps: Step[] = [];
  if (data !== undefined) {
    if (data.pointAmount > 0)
      steps.push({ label: words.stepPoints, state: 'done', detail: formatWon(data.pointAmount) });
    steps.push({
      label: words.stepCash,
      state: data.status === 'PENDING' ? 'active' : data.status === 'FAILED' ? 'failed' : 'done',
      detail: formatWon(data.cashAmount),
    });
    if (data.status === 'FAILED')
      steps.push({
        label: words.stepCompensated,
        state: 'done',
        detail: `${words.errors[data.failureCode ?? ''] ?? data.failureCode ?? ''} ${data.pointAmount > 0 ? `+${formatWon(data.pointAmount)}` : ''}`,
      });
    else steps.push({ label: words.stepSettled, state: data.status === 'COMPLETED' ? 'done' : 'waiting' });
  }
  return (
    <Section title={`${words.payment} ${props.paymentId.slice(0, 8)}`}>
      <ProblemMessage problem={payment.error} words={words} />
      {data && (
        <>
          <p>
            {words.status}:{' '}
            <strong data-testid="payment-status" class={`status status-${data.status.toLowerCase()}`}>
              {words.statusLabels[data.status] ?? data.status}
            </strong>{' '}
            · {formatTime(data.createdAt, lang)}
          </p>
          <ol class="timeline" aria-live="polite">
            {steps.map((step) => (
              <li key={step.label} class={`step step-${step.state}`}>
                <span class="step-label">{step.label}</span>
                {step.detail && <span class="step-detail"> {step.detail}</span>}
                {step.state === 'active' && <span class="step-detail"> ({words.pending})</span>}
              </li>
            ))}
          </ol>
        </>
      )}
      <p>
        <a href="#/points">{words.back}</a>
      </p>
    </Section>
  );
}

function Coupons(props: { words: Words; lang: Lang }) {
  const { words, lang } = props;
  const campaigns = useResource<{ items: Campaign[] }>('/api/v1/coupon-campaigns', { everyMs: 3000 });
  const mine = useResource<{ items: Coupon[] }>('/api/v1/coupons');
  const issuing = useIntent<Coupon>();
  const [issued, setIssued] = useState<string | undefined>(undefined);
  const issue = async (campaign: Campaign) => {
    setIssued(undefined);
    const coupon = await issuing.run(
      'POST',
      `/api/v1/coupon-campaigns/${campaign.campaignId}/issue`,
      undefined,
    );
    if (coupon !== undefined) setIssued(`${campaign.name}: ${coupon.code}`);
    mine.reload();
    campaigns.reload();
  };
  return (
    <>
      <Section title={words.campaigns}>
        <ProblemMessage problem={campaigns.error} words={words} />
        <ProblemMessage problem={issuing.error} words={words} />
        {issued && <Notice>{issued}</Notice>}
        {campaigns.data?.items.length === 0 && <p>{words.noCampaigns}</p>}
        <ul class="campaigns">
          {(campaigns.data?.items ?? []).map((campaign) => (
            <li key={campaign.campaignId}>
              <strong>{campaign.name}</strong> · {words.remaining}{' '}
              <span data-testid="remaining">
                {campaign.remaining.toLocaleString('en-US')} / {campaign.quantity.toLocaleString('en-US')}
              </span>
              {campaign.endsAt && ` · ~${formatTime(campaign.endsAt, lang)}`}{' '}
              <button
                type="button"
                disabled={issuing.busy || campaign.remaining === 0}
                aria-label={`${words.issue}: ${campaign.name}`}
                onClick={() => void issue(campaign)}
              >
                {words.issue}
              </button>
            </li>
          ))}
        </ul>
      </Section>
      <Section title={words.myCoupons}>
        {mine.data?.items.length === 0 && <p>{words.noCoupons}</p>}
        <ul>
          {(mine.data?.items ?? []).map((coupon) => (
            <li key={coupon.couponId}>
              <code>{coupon.code}</code> · {formatTime(coupon.issuedAt, lang)}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App lang={pickLang(location.search, navigator.languages)} />, root);
