--[[
  Claim an event id for deciding, or return what is already there. Single key, single slot.
  The reference for npm run bench: lib/velocity/scripts/claim-decision-1.lua before issue 9.

  Input:
    KEYS[1]  rh:{e:<event key>}   "P<ms>" while an attempt that started at <ms> is deciding,
                                  else the decision as JSON
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
  if tonumber(ARGV[1]) - tonumber(string.sub(current, 2)) < tonumber(ARGV[2]) then
    return { 'pending' }
  end
  redis.call('SET', KEYS[1], 'P' .. ARGV[1], 'PX', ARGV[3])
  return { 'takeover' }
end
return { 'decided', current }
