--[[
  commit: check every condition, then apply every write, atomically (one slot: the keys share a tag).
  KEYS[1..n]  every key the commit names (conditions and writes refer to them by index)
  ARGV[1]     JSON { "c": [[keyIndex, expected or false], ...], "w": [[op, keyIndex, args...], ...] }
              op: set value pxMs|0 | del | pexpireat atMs | zadd score member | zrem member
                  | zremrangebyscore max | hset field value | hdel field | xadd minIdMs field value ...
  Returns 1 when applied, 0 when a condition did not hold (nothing written).
]]
local spec = cjson.decode(ARGV[1])
for _, c in ipairs(spec.c) do
  local current = redis.call('GET', KEYS[c[1]])
  local expected = c[2]
  if expected == false then
    if current ~= false then return 0 end
  elseif current ~= expected then
    return 0
  end
end
for _, w in ipairs(spec.w) do
  local op, key = w[1], KEYS[w[2]]
  if op == 'set' then
    if tonumber(w[4]) > 0 then redis.call('SET', key, w[3], 'PX', w[4]) else redis.call('SET', key, w[3]) end
  elseif op == 'del' then
    redis.call('DEL', key)
  elseif op == 'pexpireat' then
    redis.call('PEXPIREAT', key, w[3])
  elseif op == 'zadd' then
    redis.call('ZADD', key, w[3], w[4])
  elseif op == 'zrem' then
    redis.call('ZREM', key, w[3])
  elseif op == 'zremrangebyscore' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', w[3])
  elseif op == 'hset' then
    redis.call('HSET', key, w[3], w[4])
  elseif op == 'hdel' then
    redis.call('HDEL', key, w[3])
  elseif op == 'xadd' then
    local args = { key, 'MINID', '~', w[3], '*' }
    for i = 4, #w do args[#args + 1] = w[i] end
    redis.call('XADD', unpack(args))
  end
end
return 1
