// Our coupon rush beside the seed's (FISA-Team-CE/tech-semina-msa's
// msa-coupon-service, built from --peer-src): the same request count, crowd,
// quantity and connections, the same closed-loop driver over node:http (the
// seed's Tomcat closes the connection after every 400, which autocannon
// miscounts), each straight at the service, in one run and one table. What
// each answer promises differs, and the README's Performance section says how.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadSpec, RequestTemplate } from '../load-types.ts';
import type { PeerCoupon } from '../peer-coupon.ts';
import { peerFixedNames, peerProcessGroup } from '../peer-seed.ts';
import {
  count,
  describeStatuses,
  invariant,
  type RunOutcome,
  type Scenario,
  type SuiteContext,
} from '../scenario.ts';
import { rushRun } from './coupons.ts';

/** The driver both sides get. */
const driver: LoadSpec['driver'] = 'node-http';
/** How long the seed's consumer may take to save every coupon it handed out (Kafka → MySQL). */
const recordTimeoutMs = 120_000;
const recordPollMs = 100;
/**
 * Requests of the suite's warm-up run (run 0) on each side: the JVM compiles
 * its hot paths only after many thousands of calls (V8 sooner). With 20,000
 * the seed's first run still cost twice the CPU per request of its later ones
 * (2026-12-06), so each side warms up with a whole rush of the runs' size, up
 * to this many. Proportionally as many coupons, so that it sells out as the
 * runs do.
 */
const warmUpRequestsMax = 100_000;

function warmUpSizes(context: SuiteContext): { requests: number; quantity: number } {
  const { rushRequests, rushQuantity } = context.options;
  const requests = Math.min(rushRequests, warmUpRequestsMax);
  return { requests, quantity: Math.max(1, Math.floor((rushQuantity * requests) / rushRequests)) };
}

const sharedDescription =
  'The same closed loop for both: --requests requests (default 100,000) round-robin over a crowd of --crowd users (default 20,000) on --connections connections (default 500) for a campaign of --quantity coupons (default 10,000), over node:http with keep-alive, a new connection whenever the server closed one (connectionsOpened counts them); the warm-up run (run 0, unless --no-warm-up) is a rush of the same size (at most 100,000 requests).';

export const peerCouponNuri: Scenario = {
  name: 'peer-coupon-nuri',
  title: 'Coupon rush, ours, beside the seed',
  description: `Our coupon service's public issue route, straight (coupon-rush-direct's load), each request with the crowd member's access token (verified by coupon), for a new campaign per run. ${sharedDescription} Checks, as coupon-rush: exactly --quantity issued, none remaining; 201s ≤ issued ≤ 201s + in doubt; core-payment recorded exactly --quantity (a 201 is sent after Kafka acked coupon.issued with acks=all).`,
  unit: 'req/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'beside peer-coupon-seed' },
  comparisons: [],
  // What an issue sets off until it is recorded: coupon, its Redis script, Kafka, the core's record.
  measuredGroups: ['coupon', 'redis', 'kafka', 'core-payment', 'postgresql', 'mariadb'],
  async prepare(context) {
    await context.crowdTokens();
  },
  async run(context, run) {
    const sizes = run === 0 ? warmUpSizes(context) : undefined;
    return rushRun(context, context.system.couponUrl, 'peer-coupon-nuri', run, driver, sizes);
  },
};

export const peerCouponSeed: Scenario = {
  name: 'peer-coupon-seed',
  title: "Coupon rush, the seed's coupon service",
  description: `The seed's POST /api/coupons/issue?userUuid=… (no authentication: the user is whatever the query says), built from --peer-src with Maven and run as one JVM against the same Redis, MariaDB and Kafka. ${sharedDescription} A campaign is the seed's one global stock: ${peerFixedNames.stockKey} set to --quantity, ${peerFixedNames.usersKey} and the ${peerFixedNames.table} table emptied. Checks: exactly --quantity in ${peerFixedNames.usersKey} and ${peerFixedNames.stockKey} at 0; 200s ≤ issued ≤ 200s + in doubt (no more 200s than coupons); its consumer saved exactly --quantity rows in MySQL, one per user (its 200 is sent before the Kafka send is even started).`,
  unit: 'req/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'beside peer-coupon-nuri' },
  comparisons: [],
  // The seed's one JVM (web, Redis script, Kafka producer and its consumer's JPA saves) and the servers it uses.
  measuredGroups: [peerProcessGroup, 'redis', 'kafka', 'mariadb'],
  withoutSystem: true,
  async prepare(context) {
    await context.peerCoupon();
  },
  async run(context, run) {
    const peer = await context.peerCoupon();
    const sizes =
      run === 0
        ? warmUpSizes(context)
        : { requests: context.options.rushRequests, quantity: context.options.rushQuantity };
    return peerRun(context, peer, `peer-coupon-seed run ${run}`, sizes);
  },
};

function peerTemplates(users: readonly string[]): RequestTemplate[] {
  return users.map((userUuid) => ({ method: 'POST', path: `/api/coupons/issue?userUuid=${userUuid}` }));
}

/**
 * Waits until the seed's consumer saved `issued` coupons (its table's rows),
 * asking MariaDB every 100 ms; resolves with what it found and how long after
 * `sinceMs` it got there.
 */
async function awaitPeerRecorded(peer: PeerCoupon, issued: number, sinceMs: number) {
  const deadline = Date.now() + recordTimeoutMs;
  for (;;) {
    const recorded = await peer.recorded();
    if (recorded.rows >= issued || Date.now() > deadline) return { ...recorded, lagMs: Date.now() - sinceMs };
    await sleep(recordPollMs);
  }
}

async function peerRun(
  context: SuiteContext,
  peer: PeerCoupon,
  label: string,
  sizes: { requests: number; quantity: number },
): Promise<RunOutcome> {
  const { quantity, requests } = sizes;
  await peer.resetCampaign(quantity);
  const { load, cpuUntilNow } = await context.load(
    {
      url: peer.url,
      mode: 'closed',
      driver,
      connections: context.connections(500),
      amount: requests,
      templates: peerTemplates(context.peerUsers()),
      timeoutS: 10,
    },
    label,
  );
  const endedAtMs = load.startedAtMs + load.durationS * 1_000;
  const campaign = await peer.campaign();
  const recorded = await awaitPeerRecorded(peer, campaign.issued, endedAtMs);
  // Until its consumer saved every coupon; per request answered (most are 400 SOLD_OUT).
  const cpu = cpuUntilNow();
  const ok = count(load.statuses, 200);
  return {
    figure: load.answered / load.durationS,
    figures: {
      issued: campaign.issued,
      recorded: recorded.rows,
      recordedLagMs: recorded.lagMs,
      inDoubt: load.inDoubt.length,
      ...(load.connectionsOpened === undefined ? {} : { connectionsOpened: load.connectionsOpened }),
    },
    load,
    cpu,
    operations: load.answered,
    statuses: load.statuses,
    invariants: [
      invariant(
        `exactly ${quantity} issued, none remaining`,
        campaign.issued === quantity && campaign.remaining === 0,
        `${peerFixedNames.usersKey} holds ${campaign.issued}, ${peerFixedNames.stockKey} ${campaign.remaining}; answers ${describeStatuses(load.statuses)}`,
      ),
      // A request unanswered when the load ended may still have issued its coupon.
      invariant(
        'every issued coupon was answered 200 (or was in flight at the end), no more 200s than coupons',
        ok <= campaign.issued && campaign.issued <= ok + load.inDoubt.length,
        `200s ${ok}, in doubt ${load.inDoubt.length}, issued ${campaign.issued}`,
      ),
      invariant(
        `its consumer saved exactly ${quantity} coupons, one per user`,
        recorded.rows === quantity && recorded.users === quantity,
        `${recorded.rows} rows for ${recorded.users} users in ${peerFixedNames.table}, ${recorded.lagMs} ms after the load`,
      ),
    ],
  };
}
