--[[
  count: add to counters in one hash, and give the hash its TTL when this call created it.
  KEYS[1]  the hash (one UTC hour of decision counts)
  ARGV[1]  TTL, ms
  ARGV[2..] field, increment, field, increment, ... (the first field is in every call, so its
           value equal to its increment means the hash is new)
]]
local key = KEYS[1]
local first = redis.call('HINCRBY', key, ARGV[2], ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
end
if first == tonumber(ARGV[3]) then redis.call('PEXPIRE', key, ARGV[1]) end
return first
