--[[
  Record that an entity was bound (or unbound) at an event time: the latest time of each wins.
  Same hash as record-entities.lua, so a later payment reads it in the same call.

  Input:
    KEYS[1]  rh:{<kind>:<hash>}:v   fields "b" (last bound, event ms) and "u" (last unbound, event ms);
                                    the hash's expiry is renewed (record-entities.lua renews it only
                                    when a bucket opens, so a binding on a quiet entity must too)
    ARGV[1]  at: event time, epoch ms
    ARGV[2]  "b" to record a binding, "u" an unbinding
    ARGV[3]  TTL of the entity keys, ms

  Output: 1 when the time was recorded, 0 when a later one was already there
]]

local current = tonumber(redis.call('HGET', KEYS[1], ARGV[2]))
local recorded = 0
if not current or tonumber(ARGV[1]) > current then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
  recorded = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return recorded
