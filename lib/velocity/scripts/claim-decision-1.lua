--[[
  Claim an event id for deciding, or return what is already there. Single key, single slot.

  Input:
    KEYS[1]  rh:{e:<event key>}   "P<ms>" while an attempt that started at <ms> is deciding
                                  ("P<ms>|<flags>" once velocity.lua counted it on a single node:
                                  a takeover keeps what follows "|", so the event is not counted
                                  twice), else the decision as JSON
    ARGV[1]  now, epoch ms (the caller's clock)
    ARGV[2]  stale after, ms: a pending claim this old is taken over (its attempt died or timed out)
    ARGV[3]  TTL of the record, ms

  Output: { "claimed" } | { "takeover" } | { "pending" } | { "decided", <decision JSON> }
]]

local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], 'P' .. ARGV[1], 'PX', ARGV[3])
  return { 'claimed' }
end
if string.sub(current, 1, 1) == 'P' then
  if tonumber(ARGV[1]) - tonumber(string.match(current, '^P(%d+)')) < tonumber(ARGV[2]) then
    return { 'pending' }
  end
  local bar = string.find(current, '|', 1, true)
  redis.call('SET', KEYS[1], 'P' .. ARGV[1] .. (bar and string.sub(current, bar) or ''), 'PX', ARGV[3])
  return { 'takeover' }
end
return { 'decided', current }
