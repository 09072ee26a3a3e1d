// Every scenario the suite can run, in the order of options.ts's catalogue
// (bench/test/catalogue.test.ts holds the two together).
import type { Scenario } from './scenario.ts';
import { coreDeposits, coreWithdraw, coreWithdrawHot } from './scenarios/core-payment.ts';
import {
  couponIssue,
  couponIssueDirect,
  couponRush,
  couponRushDirect,
  couponSteady,
  couponSteadyDirect,
} from './scenarios/coupons.ts';
import { login } from './scenarios/login.ts';
import { me, meDirect } from './scenarios/me.ts';
import { deposit, depositAccept, transfer, withdraw, withdrawHot } from './scenarios/money.ts';
import { outboxRelayMariadb, outboxRelayPostgres } from './scenarios/outbox-relay.ts';
import { paymentSaga, paymentSagaDirect } from './scenarios/payment-saga.ts';
import { peerCouponNuri, peerCouponSeed } from './scenarios/peer-coupon.ts';

export const catalogue: readonly Scenario[] = [
  couponRush,
  couponRushDirect,
  couponSteady,
  couponSteadyDirect,
  couponIssue,
  couponIssueDirect,
  withdraw,
  withdrawHot,
  deposit,
  depositAccept,
  transfer,
  paymentSaga,
  paymentSagaDirect,
  login,
  me,
  meDirect,
  coreDeposits,
  coreWithdraw,
  coreWithdrawHot,
  outboxRelayPostgres,
  outboxRelayMariadb,
  peerCouponNuri,
  peerCouponSeed,
];
