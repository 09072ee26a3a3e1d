import type { HttpApp } from '@nuri/platform/http';
import type { CampaignService } from '../domain/campaigns.ts';
import type { createAdminAuthenticator, UserAuthenticator } from './auth.ts';
import {
  Campaign,
  CampaignList,
  CampaignListQuery,
  CampaignParams,
  ConflictProblem,
  Coupon,
  CouponList,
  CreateCampaignBody,
  campaignToJson,
  couponToJson,
  Problem,
} from './schemas.ts';

export interface CampaignRouteDeps {
  campaigns: CampaignService;
  authenticate: UserAuthenticator;
  authenticateAdmin: ReturnType<typeof createAdminAuthenticator>;
}

/** The customers' list: the newest this many campaigns, the ended ones left out (each costs a Redis read). */
const publicCampaignsListed = 20;

export function registerCampaignRoutes(app: HttpApp, deps: CampaignRouteDeps): void {
  const { campaigns, authenticate, authenticateAdmin } = deps;

  app.post(
    '/api/v1/admin/coupon-campaigns',
    {
      // Before body validation: who is asking matters before what they sent.
      onRequest: async (request) => authenticateAdmin(request.headers.authorization),
      schema: {
        body: CreateCampaignBody,
        response: { 201: Campaign, 400: Problem, 401: Problem, 403: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const { name, quantity, startsAt, endsAt } = request.body;
      const created = await campaigns.createCampaign({
        name,
        quantity,
        startsAt: startsAt === undefined ? null : new Date(startsAt),
        endsAt: endsAt === undefined ? null : new Date(endsAt),
      });
      request.log.info({ campaignId: created.campaignId, quantity }, 'coupon campaign created');
      return reply.code(201).send(campaignToJson(created));
    },
  );

  app.get(
    '/api/v1/admin/coupon-campaigns',
    {
      onRequest: async (request) => authenticateAdmin(request.headers.authorization),
      schema: {
        querystring: CampaignListQuery,
        response: { 200: CampaignList, 400: Problem, 401: Problem, 403: Problem, 503: Problem },
      },
    },
    async (request) => {
      const listed = await campaigns.listCampaigns(request.query.limit);
      return { items: listed.map(campaignToJson) };
    },
  );

  app.get(
    '/api/v1/coupon-campaigns',
    { schema: { response: { 200: CampaignList, 401: Problem, 503: Problem } } },
    async (request) => {
      await authenticate(request.headers.authorization);
      const listed = await campaigns.listCampaigns(publicCampaignsListed);
      const now = Date.now();
      // What a customer can still take part in: running or about to start, newest first.
      return {
        items: listed
          .filter((campaign) => campaign.endsAt === null || campaign.endsAt.getTime() > now)
          .map(campaignToJson),
      };
    },
  );

  app.get(
    '/api/v1/coupon-campaigns/:campaignId',
    {
      schema: {
        params: CampaignParams,
        response: { 200: Campaign, 401: Problem, 404: Problem, 503: Problem },
      },
    },
    async (request) => {
      await authenticate(request.headers.authorization);
      return campaignToJson(await campaigns.getCampaign(request.params.campaignId));
    },
  );

  app.post(
    '/api/v1/coupon-campaigns/:campaignId/issue',
    {
      schema: {
        params: CampaignParams,
        response: {
          201: Coupon,
          401: Problem,
          404: Problem,
          409: ConflictProblem,
          410: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const userUuid = await authenticate(request.headers.authorization);
      const coupon = await campaigns.issueCoupon(userUuid, request.params.campaignId, request.id);
      return reply.code(201).send(couponToJson(coupon));
    },
  );

  app.get(
    '/api/v1/coupons',
    { schema: { response: { 200: CouponList, 401: Problem, 503: Problem } } },
    async (request) => {
      const userUuid = await authenticate(request.headers.authorization);
      const coupons = await campaigns.listCoupons(userUuid);
      return { items: coupons.map(couponToJson) };
    },
  );
}
