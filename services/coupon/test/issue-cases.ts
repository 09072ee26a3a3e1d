import type { HeldCoupon, LiveCampaign } from '../src/domain/issue-decision.ts';

// Cases shared by the pure state machine's unit test and the Lua scripts'
// integration test: the same starting state and input must give the same
// outcome and the same final state in both.

export const nowMs = 1_800_000_000_000;
export const userA = '0190a000-0000-7000-8000-00000000000a';
export const userB = '0190a000-0000-7000-8000-00000000000b';
export const heldByA: HeldCoupon = {
  couponId: '0190a000-0000-7000-8000-0000000000c1',
  code: 'AAAA-BBBB-CCCC',
  issuedAtMs: nowMs - 5_000,
  handedOff: false,
};
export const newCoupon = { couponId: '0190a000-0000-7000-8000-0000000000c2', code: 'DDDD-EEEE-FFFF' };

export function campaign(overrides: Partial<LiveCampaign> = {}): LiveCampaign {
  return { remaining: 10, startsAtMs: null, endsAtMs: null, holders: new Map(), ...overrides };
}

export interface IssueCase {
  name: string;
  state: LiveCampaign | undefined;
  userUuid: string;
  expected: 'NOT_LOADED' | 'NOT_ACTIVE' | 'ALREADY_ISSUED' | 'SOLD_OUT' | 'ISSUED';
  expectedRemaining?: number;
}

export const issueCases: IssueCase[] = [
  {
    name: 'when the campaign is not loaded, then NOT_LOADED',
    state: undefined,
    userUuid: userB,
    expected: 'NOT_LOADED',
  },
  {
    name: 'when the campaign starts later, then NOT_ACTIVE',
    state: campaign({ startsAtMs: nowMs + 1 }),
    userUuid: userB,
    expected: 'NOT_ACTIVE',
    expectedRemaining: 10,
  },
  {
    name: 'when the campaign starts exactly now, then ISSUED (the start is inclusive)',
    state: campaign({ startsAtMs: nowMs }),
    userUuid: userB,
    expected: 'ISSUED',
    expectedRemaining: 9,
  },
  {
    name: 'when the campaign ends exactly now, then NOT_ACTIVE (the end is exclusive)',
    state: campaign({ endsAtMs: nowMs }),
    userUuid: userB,
    expected: 'NOT_ACTIVE',
    expectedRemaining: 10,
  },
  {
    name: 'when the campaign ended and the user holds one, then NOT_ACTIVE (time is checked first)',
    state: campaign({ endsAtMs: nowMs - 1, holders: new Map([[userA, heldByA]]) }),
    userUuid: userA,
    expected: 'NOT_ACTIVE',
    expectedRemaining: 10,
  },
  {
    name: 'when the user already holds a coupon, then ALREADY_ISSUED and nothing changes',
    state: campaign({ holders: new Map([[userA, heldByA]]) }),
    userUuid: userA,
    expected: 'ALREADY_ISSUED',
    expectedRemaining: 10,
  },
  {
    name: 'when the user holds one the core recorded, then ALREADY_ISSUED saying it is recorded',
    state: campaign({ holders: new Map([[userA, heldByA]]), recorded: new Set([userA]) }),
    userUuid: userA,
    expected: 'ALREADY_ISSUED',
    expectedRemaining: 10,
  },
  {
    name: 'when the user holds one and the stock is gone, then ALREADY_ISSUED (not SOLD_OUT)',
    state: campaign({ remaining: 0, holders: new Map([[userA, heldByA]]) }),
    userUuid: userA,
    expected: 'ALREADY_ISSUED',
    expectedRemaining: 0,
  },
  {
    name: 'when no stock is left, then SOLD_OUT',
    state: campaign({ remaining: 0 }),
    userUuid: userB,
    expected: 'SOLD_OUT',
    expectedRemaining: 0,
  },
  {
    name: 'when the last coupon is left, then ISSUED and the stock is zero',
    state: campaign({ remaining: 1, startsAtMs: nowMs - 10, endsAtMs: nowMs + 10 }),
    userUuid: userB,
    expected: 'ISSUED',
    expectedRemaining: 0,
  },
];
