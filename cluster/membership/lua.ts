/**
 * Lua scripts of the Redis membership provider. Each mutating script runs atomically in Redis:
 * it reads the server clock (TIME), reaps expired members, ends a finished recovery window,
 * applies its own change, and, if anything changed, advances the epoch once and publishes it.
 *
 * KEYS: [1] members hash (id -> Member JSON), [2] leases sorted set (id -> lease expiry, ms on
 * the Redis clock), [3] meta hash (epoch, recoverUntil).
 * ARGV (mutating): [1] highest epoch the caller has seen, [2] recovery grace in ms,
 * [3] pub/sub channel, [4] member id, [5] Member JSON, [6] incarnation, [7] lease in ms.
 * Reply: { status, epoch (string), recovering ms (0 when not recovering), flat members list
 * [id, json, ...] (empty for the heartbeat) }.
 */

const PRELUDE = `
local membersKey, leasesKey, metaKey = KEYS[1], KEYS[2], KEYS[3]
local known = tonumber(ARGV[1]) or 0
local recoveryMs = tonumber(ARGV[2]) or 0
local channel = ARGV[3]
local id = ARGV[4]
local json = ARGV[5]
local incarnation = tonumber(ARGV[6])
local leaseMs = tonumber(ARGV[7])

local function fmt(n) return string.format('%.0f', n) end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('HGET', metaKey, 'epoch') or '')
local recoverUntil = tonumber(redis.call('HGET', metaKey, 'recoverUntil') or '')
local changed = false

-- No epoch: a new registry, or Redis lost its data (restart without persistence, flush).
-- Open a recovery window: members re-register during it and no topology is published, so
-- nobody drops a live node that simply has not re-registered yet.
if epoch == nil then
  epoch = 0
  changed = true
  if recoveryMs > 0 then
    recoverUntil = now + recoveryMs
    redis.call('HSET', metaKey, 'recoverUntil', fmt(recoverUntil))
  end
end

-- Reap: members whose lease ran out on the Redis clock.
local expired = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', '(' .. fmt(now))
for _, dead in ipairs(expired) do
  redis.call('HDEL', membersKey, dead)
  redis.call('ZREM', leasesKey, dead)
  changed = true
end

if recoverUntil ~= nil and now >= recoverUntil then
  redis.call('HDEL', metaKey, 'recoverUntil')
  recoverUntil = nil
  changed = true
end

local function incarnationOf(value)
  local ok, m = pcall(cjson.decode, value)
  if ok and type(m) == 'table' then return tonumber(m.incarnation) end
  return nil
end

local function register()
  redis.call('HSET', membersKey, id, json)
  redis.call('ZADD', leasesKey, fmt(now + leaseMs), id)
  changed = true
end

local function commit(status, withMembers)
  if changed then
    -- Strictly above the stored epoch and anything the caller has seen, and at least the
    -- Redis clock in ms, so epochs keep increasing when the stored counter is lost.
    epoch = math.max(epoch + 1, known + 1, now)
    redis.call('HSET', metaKey, 'epoch', fmt(epoch))
    if recoverUntil == nil then redis.call('PUBLISH', channel, fmt(epoch)) end
  end
  local recovering = 0
  if recoverUntil ~= nil then recovering = recoverUntil - now end
  local members = {}
  if withMembers then members = redis.call('HGETALL', membersKey) end
  return { status, fmt(epoch), recovering, members }
end
`;

/** Registers (or re-registers) the member unless a newer incarnation holds its id. */
export const JOIN_LUA = `${PRELUDE}
local existing = redis.call('HGET', membersKey, id)
if existing then
  local other = incarnationOf(existing)
  if other ~= nil and other > incarnation then return commit('superseded', true) end
end
register()
return commit('ok', true)
`;

/**
 * Renews the member's lease. 'gone' when it is no longer registered (reaped), 'restored' when
 * Redis lost it but the recovery window is open (re-registered silently), 'superseded' when a
 * newer incarnation holds the id.
 */
export const HEARTBEAT_LUA = `${PRELUDE}
local existing = redis.call('HGET', membersKey, id)
local status
if not existing then
  if recoverUntil ~= nil then
    register()
    status = 'restored'
  else
    status = 'gone'
  end
else
  local other = incarnationOf(existing)
  if other == incarnation then
    redis.call('ZADD', leasesKey, fmt(now + leaseMs), id)
    status = 'ok'
  elseif other ~= nil and other > incarnation then
    status = 'superseded'
  else
    status = 'gone'
  end
end
return commit(status, false)
`;

/** Removes the member if this incarnation holds it ('absent' otherwise). */
export const LEAVE_LUA = `${PRELUDE}
local existing = redis.call('HGET', membersKey, id)
if existing and incarnationOf(existing) == incarnation then
  redis.call('HDEL', membersKey, id)
  redis.call('ZREM', leasesKey, id)
  changed = true
  return commit('ok', true)
end
return commit('absent', true)
`;

/** Reads epoch and members in one atomic step. 'missing' when there is no epoch at all. */
export const READ_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if not epoch then return { 'missing', '0', 0, {} } end
local recoverUntil = tonumber(redis.call('HGET', KEYS[3], 'recoverUntil') or '')
local recovering = 0
if recoverUntil ~= nil and recoverUntil > now then recovering = recoverUntil - now end
return { 'ok', epoch, recovering, redis.call('HGETALL', KEYS[1]) }
`;
