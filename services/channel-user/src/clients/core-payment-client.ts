import { amountToJson } from '@nuri/platform/money';
import type { Account, CoreLedger, CoreTransaction, Withdrawal } from '../domain/accounts.ts';
import type { Transfer } from '../domain/transfers.ts';
import { type CoreClient, problemFrom } from './core-client.ts';

/** Withdrawals and transfers carry their idempotency key, so a retry after a lost answer cannot move money twice. */
const withdrawalRetriesMax = 2;
/** Openings carry their open key, so a retry after a lost answer finds the account opened. */
const openRetriesMax = 2;
/** Reads are safe to repeat. */
const readRetriesMax = 1;

type CoreAccount = Account & { userUuid?: string };

/** core-payment's accounts, transactions and withdrawals over its internal REST API. */
export function createCoreLedger(core: CoreClient): CoreLedger {
  return {
    async openAccount({ userUuid, alias, openKey }, requestId) {
      const response = await core.request({
        method: 'POST',
        path: '/internal/v1/accounts',
        body: { userUuid, openKey, ...(alias === undefined ? {} : { alias }) },
        requestId,
        retriesMax: openRetriesMax,
      });
      // 201 opened now; 200 opened by an earlier attempt with the same key.
      if (response.status !== 201 && response.status !== 200) throw problemFrom(response);
      return toAccount(response.body as CoreAccount);
    },

    async listAccounts(userUuid, requestId) {
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/users/${encodeURIComponent(userUuid)}/accounts`,
        requestId,
        retriesMax: readRetriesMax,
      });
      if (response.status !== 200) throw problemFrom(response);
      return (response.body as { items: CoreAccount[] }).items.map(toAccount);
    },

    async getAccount(accountNo, userUuid, requestId) {
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/accounts/${accountNo}?userUuid=${encodeURIComponent(userUuid)}`,
        requestId,
        retriesMax: readRetriesMax,
      });
      if (response.status !== 200) throw problemFrom(response);
      return toAccount(response.body as CoreAccount);
    },

    async listTransactions(accountNo, userUuid, page, requestId) {
      const query = new URLSearchParams({ userUuid, limit: String(page.limit) });
      if (page.cursor !== undefined) query.set('cursor', page.cursor);
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/accounts/${accountNo}/transactions?${query.toString()}`,
        requestId,
        retriesMax: readRetriesMax,
      });
      if (response.status !== 200) throw problemFrom(response);
      const body = response.body as { items: CoreTransaction[]; nextCursor: string | null };
      return { items: body.items.map(toTransaction), nextCursor: body.nextCursor };
    },

    async findHolder(accountNo, requestId) {
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/accounts/${accountNo}`,
        requestId,
        retriesMax: readRetriesMax,
      });
      if (response.status === 404) return undefined;
      if (response.status !== 200) throw problemFrom(response);
      const body = response.body as { userUuid: string; status: 'ACTIVE' | 'CLOSED' };
      return { userUuid: body.userUuid, status: body.status };
    },

    async transfer(request, requestId, onReplay): Promise<Transfer> {
      const response = await core.request({
        method: 'POST',
        path: '/internal/v1/transfers',
        body: {
          userUuid: request.userUuid,
          fromAccountNo: request.fromAccountNo,
          toAccountNo: request.toAccountNo,
          amount: amountToJson(request.amount),
          memo: request.memo,
          idempotencyKey: request.idempotencyKey,
        },
        requestId,
        retriesMax: withdrawalRetriesMax,
      });
      if (response.replayed) onReplay?.(response.afterLostAttempt);
      if (response.status !== 200) throw problemFrom(response);
      return toTransfer(response.body as Transfer);
    },

    async getTransfer(transferId, userUuid, requestId) {
      const response = await core.request({
        method: 'GET',
        path: `/internal/v1/transfers/${transferId}?userUuid=${encodeURIComponent(userUuid)}`,
        requestId,
        retriesMax: readRetriesMax,
      });
      if (response.status === 404) return undefined;
      if (response.status !== 200) throw problemFrom(response);
      return toTransfer(response.body as Transfer);
    },

    async withdraw(request, requestId, onReplay): Promise<Withdrawal> {
      const response = await core.request({
        method: 'POST',
        path: `/internal/v1/accounts/${request.accountNo}/withdrawals`,
        body: {
          userUuid: request.userUuid,
          amount: amountToJson(request.amount),
          idempotencyKey: request.idempotencyKey,
        },
        requestId,
        retriesMax: withdrawalRetriesMax,
      });
      if (response.replayed) onReplay?.(response.afterLostAttempt);
      if (response.status !== 200) throw problemFrom(response);
      const body = response.body as {
        withdrawalId: string;
        accountNo: string;
        amount: number;
        balanceAfter: number;
      };
      return {
        withdrawalId: body.withdrawalId,
        accountNo: body.accountNo,
        amount: body.amount,
        balanceAfter: body.balanceAfter,
      };
    },
  };
}

// Picks the public fields: core's userUuid stays inside.
function toAccount(account: CoreAccount): Account {
  return {
    accountNo: account.accountNo,
    alias: account.alias,
    balance: account.balance,
    currency: account.currency,
    status: account.status,
    openedAt: account.openedAt,
  };
}

function toTransaction(item: CoreTransaction): CoreTransaction {
  return {
    id: item.id,
    type: item.type,
    amount: item.amount,
    balanceAfter: item.balanceAfter,
    reference: item.reference,
    createdAt: item.createdAt,
    ...(item.counterparty === undefined
      ? {}
      : {
          counterparty: {
            userUuid: item.counterparty.userUuid,
            accountNoLast4: item.counterparty.accountNoLast4,
          },
          memo: item.memo ?? null,
        }),
  };
}

function toTransfer(body: Transfer): Transfer {
  return {
    transferId: body.transferId,
    fromAccountNo: body.fromAccountNo,
    toAccountNo: body.toAccountNo,
    amount: body.amount,
    balanceAfter: body.balanceAfter,
    memo: body.memo,
    createdAt: body.createdAt,
  };
}
