import type { Kysely } from 'kysely';
import type { CampaignDefinition } from '../domain/campaigns.ts';
import type { ServiceDb } from './database.ts';

function toDefinition(row: {
  campaign_id: string;
  name: string;
  quantity: number;
  starts_at: Date | null;
  ends_at: Date | null;
}): CampaignDefinition {
  return {
    campaignId: row.campaign_id,
    name: row.name,
    quantity: Number(row.quantity),
    startsAt: row.starts_at,
    endsAt: row.ends_at,
  };
}

export function createCampaignRepository(db: Kysely<ServiceDb>) {
  return {
    async insert(campaign: CampaignDefinition): Promise<void> {
      await db
        .insertInto('campaigns')
        .values({
          campaign_id: campaign.campaignId,
          name: campaign.name,
          quantity: campaign.quantity,
          starts_at: campaign.startsAt,
          ends_at: campaign.endsAt,
        })
        .execute();
    },

    async find(campaignId: string): Promise<CampaignDefinition | undefined> {
      const row = await db
        .selectFrom('campaigns')
        .select(['campaign_id', 'name', 'quantity', 'starts_at', 'ends_at'])
        .where('campaign_id', '=', campaignId)
        .executeTakeFirst();
      return row === undefined ? undefined : toDefinition(row);
    },

    /** The newest campaigns first, whole (ids are UUIDv7, so id order is creation order). */
    async listLatest(limit: number): Promise<CampaignDefinition[]> {
      const rows = await db
        .selectFrom('campaigns')
        .select(['campaign_id', 'name', 'quantity', 'starts_at', 'ends_at'])
        .orderBy('campaign_id', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toDefinition);
    },

    /** The newest campaigns first (ids are UUIDv7, so id order is creation order). */
    async listNewest(limit: number): Promise<Array<{ campaignId: string; quantity: number }>> {
      const rows = await db
        .selectFrom('campaigns')
        .select(['campaign_id', 'quantity'])
        .orderBy('campaign_id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({ campaignId: row.campaign_id, quantity: Number(row.quantity) }));
    },

    /** Campaigns still open, or closed after `endedAfter`: the ones that may have coupons to re-send. */
    async listRecent(endedAfter: Date, limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('campaigns')
        .select('campaign_id')
        .where((eb) => eb.or([eb('ends_at', 'is', null), eb('ends_at', '>', endedAfter)]))
        .orderBy('campaign_id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => row.campaign_id);
    },
  };
}

export type CampaignRepository = ReturnType<typeof createCampaignRepository>;
