// Lua scripts of the live race. Each touches only the keys of one campaign,
// all hash-tagged `coupon:{<campaignId>}:…`, so each is valid on Redis
// Cluster. They mirror domain/issue-decision.ts branch for branch.
//
// Keys (KEYS[1..3] of every script):
//   meta    HASH  quantity, remaining, startsAt, endsAt (epoch ms; '' = open)
//   holders HASH  userUuid → "couponId|code|issuedAtMs|L" (L = its send has not been acked yet,
//                 K = in Kafka: acked, or read back from the topic)
//   pending ZSET  userUuid scored by issuedAtMs: issued, coupon.recorded not yet back
//   unconfirmed HASH userUuid → couponId: its hand-off failed with its fate
//                 unknown (it may be in Kafka), so its user was answered 503
//                 and not yet 201; the issue script (KEYS[4]) reports it
// `meta` existing is what "the campaign is loaded" means; it is written last by a rebuild.

/**
 * KEYS: meta, holders, pending, unconfirmed. ARGV: userUuid, couponId, code, nowMs ('' = the server's TIME).
 * → {'ISSUED', remaining, issuedAtMs} | {'ALREADY_ISSUED', held, unconfirmedCouponId|'', recorded 1|0}
 *   | {'SOLD_OUT'} | {'NOT_ACTIVE'} | {'NOT_LOADED'}
 * (recorded: the holder is no longer pending, i.e. coupon.recorded came back.)
 */
export const issueScript = `
local meta = redis.call('HMGET', KEYS[1], 'remaining', 'startsAt', 'endsAt')
if not meta[1] then return {'NOT_LOADED'} end
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local startsAt = tonumber(meta[2])
local endsAt = tonumber(meta[3])
if (startsAt and now < startsAt) or (endsAt and now >= endsAt) then return {'NOT_ACTIVE'} end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  local recorded = redis.call('ZSCORE', KEYS[3], ARGV[1]) and 0 or 1
  return {'ALREADY_ISSUED', held, redis.call('HGET', KEYS[4], ARGV[1]) or '', recorded}
end
local remaining = tonumber(meta[1])
if remaining <= 0 then return {'SOLD_OUT'} end
local issuedAt = string.format('%d', now)
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. issuedAt .. '|L')
redis.call('ZADD', KEYS[3], now, ARGV[1])
return {'ISSUED', remaining - 1, issuedAt}
`;

/** ARGV: userUuid, couponId. → 'ROLLED_BACK' | 'HANDED_OFF' | 'NOT_HELD' | 'NOT_LOADED' */
export const rollbackScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_LOADED' end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held or string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 'NOT_HELD' end
if string.sub(held, -2) == '|K' then return 'HANDED_OFF' end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'remaining', 1)
return 'ROLLED_BACK'
`;

/**
 * The broker acked a coupon's send. KEYS: meta, holders, unconfirmed. ARGV: userUuid, couponId.
 * → 'ACKED' | 'NOT_HELD' | 'NOT_LOADED'
 */
export const ackScript = `
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[3], ARGV[1]) end
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_LOADED' end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held or string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 'NOT_HELD' end
if string.sub(held, -2) == '|L' then
  redis.call('HSET', KEYS[2], ARGV[1], string.sub(held, 1, -2) .. 'K')
end
return 'ACKED'
`;

/**
 * A coupon.issued read back from Kafka. ARGV: userUuid, couponId, code, issuedAtMs.
 * → 'HELD' | 'CONFLICT' | 'ADOPTED' | 'OVERSOLD' | 'NOT_LOADED'
 */
export const handOffScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_LOADED' end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  if string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return 'CONFLICT' end
  if string.sub(held, -2) == '|L' then
    redis.call('HSET', KEYS[2], ARGV[1], string.sub(held, 1, -2) .. 'K')
  end
  return 'HELD'
end
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|K')
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
if remaining <= 0 then return 'OVERSOLD' end
return 'ADOPTED'
`;

/**
 * Makes a campaign live (creation, or the last step of a rebuild) unless it
 * already is. ARGV: quantity, remaining, startsAtMs|'', endsAtMs|''. → 1 loaded, 0 already loaded
 */
export const loadScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'quantity', ARGV[1], 'remaining', ARGV[2], 'startsAt', ARGV[3], 'endsAt', ARGV[4])
return 1
`;

/** Deletes a lock only if it still carries our token. KEYS: lock; ARGV: token. */
export const unlockScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
