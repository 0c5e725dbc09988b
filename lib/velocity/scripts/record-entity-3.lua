--[[
  Count one event for one entity and read every window of that entity, atomically.
  All keys share the entity's hash tag, so the script is single-slot (Redis Cluster safe).
  Mirrors lib/velocity/memory.ts and the window arithmetic of lib/velocity/windows.ts.

  Input:
    KEYS[1]  rh:{<kind>:<hash>}:v   hash of buckets: "<bucketSeconds>:<index>:<metric>" -> integer,
                                    metric n = count, p = password-free count,
                                    a<CUR> = amount, q<CUR> = password-free amount (minor units);
                                    "f" -> first seen, "b" / "u" -> last bound / unbound (event ms,
                                    written by record-binding-1.lua)
    KEYS[2]  rh:{<kind>:<hash>}:d   sorted set: <relation code><member hash> -> last seen (event ms)
    KEYS[3]  rh:{<kind>:<hash>}:m:<event key>
                                    marker: this event was already counted here. Its value holds the
                                    novelty flags of the first count, so a retry reads the same facts.

    ARGV[1]  at: event time, epoch ms
    ARGV[2]  amount, integer minor units
    ARGV[3]  currency (ISO-4217)
    ARGV[4]  "1" when the payment was password-free
    ARGV[5]  TTL of the entity keys, ms
    ARGV[6]  TTL of the marker, ms
    ARGV[7]  most members kept in the sorted set
    ARGV[8]  retention of members (the longest window), ms
    ARGV[9]  number of windows W, then W pairs: window ms, bucket ms
    then     number of reported relations R, then R relation codes
    then     number of members M, then M members (relation code .. member hash)

  Output: { firstSeenAt, flags, boundAt (0: not bound), then per window: count, amount, pfCount, pfAmount,
            then per reported relation, per window: distinct count }
    flags: "1"/"0" for "entity is new", then one per reported relation: "its member is new here".
]]

local at = tonumber(ARGV[1])
local currency = ARGV[3]
local cap = tonumber(ARGV[7])
local retention = tonumber(ARGV[8])

local i = 9
local windows = {}
for w = 1, tonumber(ARGV[i]) do
  local ms, bucket = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local start = at - ms
  local oldest = math.floor(start / bucket)
  windows[w] = {
    ms = ms, bucket = bucket, res = tostring(bucket / 1000),
    oldest = oldest, newest = math.floor(at / bucket), weight = (oldest + 1) * bucket - start,
  }
  i = i + 2
end
i = i + 1
local relations = {}
for r = 1, tonumber(ARGV[i]) do relations[r] = ARGV[i + r] end
i = i + #relations + 1
local members = {}
for m = 1, tonumber(ARGV[i]) do members[m] = ARGV[i + m] end

local fields = {}
local flat = redis.call('HGETALL', KEYS[1])
for j = 1, #flat, 2 do fields[flat[j]] = tonumber(flat[j + 1]) end

local flags = redis.call('GET', KEYS[3])
if not flags then
  -- Novelty, before this event's members are added.
  flags = fields.f and '0' or '1'
  for r = 1, #relations do
    local new = '0'
    for m = 1, #members do
      if string.sub(members[m], 1, 1) == relations[r] then
        if not redis.call('ZSCORE', KEYS[2], members[m]) then new = '1' end
      end
    end
    flags = flags .. new
  end

  -- Related entities: last seen, trimmed by time, then capped (oldest first).
  if #members > 0 then
    for m = 1, #members do redis.call('ZADD', KEYS[2], 'GT', at, members[m]) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', at - retention)
    local card = redis.call('ZCARD', KEYS[2])
    if card > cap then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, card - cap - 1) end
    redis.call('PEXPIRE', KEYS[2], ARGV[5])
  end

  -- Counters: read-modify-write of this event's bucket at each resolution, one HSET.
  local amount = tonumber(ARGV[2])
  local updates = {}
  local function set(field, v)
    fields[field] = v
    updates[#updates + 1] = field
    updates[#updates + 1] = string.format('%.0f', v)
  end
  local function add(field, delta) set(field, (fields[field] or 0) + delta) end
  if not fields.f or at < fields.f then set('f', at) end
  local keep = {}
  for _, w in ipairs(windows) do
    local k = keep[w.res]
    if not k then
      local prefix = w.res .. ':' .. string.format('%.0f', w.newest) .. ':'
      add(prefix .. 'n', 1)
      add(prefix .. 'a' .. currency, amount)
      if ARGV[4] == '1' then
        add(prefix .. 'p', 1)
        add(prefix .. 'q' .. currency, amount)
      end
      k = w.oldest
    end
    if w.oldest < k then k = w.oldest end
    keep[w.res] = k
  end
  redis.call('HSET', KEYS[1], unpack(updates))

  local stale = {}
  for field in pairs(fields) do
    local res, index = string.match(field, '^(%d+):(%d+):')
    if res and keep[res] and tonumber(index) < keep[res] then stale[#stale + 1] = field end
  end
  for _, field in ipairs(stale) do fields[field] = nil end
  if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('SET', KEYS[3], flags, 'PX', ARGV[6])
end

-- Window sums: full buckets after the oldest, plus the oldest weighted by its share in the window.
local sums, partial = {}, {}
for w = 1, #windows do
  sums[w] = { n = 0, a = 0, p = 0, q = 0 }
  partial[w] = { n = 0, a = 0, p = 0, q = 0 }
end
local metricOf = { n = 'n', p = 'p', ['a' .. currency] = 'a', ['q' .. currency] = 'q' }
for field, value in pairs(fields) do
  local res, index, metric = string.match(field, '^(%d+):(%d+):(.+)$')
  local slot = res and metricOf[metric]
  if slot then
    index = tonumber(index)
    for w, win in ipairs(windows) do
      if win.res == res then
        if index > win.oldest and index <= win.newest then
          sums[w][slot] = sums[w][slot] + value
        elseif index == win.oldest then
          partial[w][slot] = value
        end
      end
    end
  end
end

-- Bound, unless unbound since. (The hash may hold a binding before any payment: "f" is what makes an entity known.)
local boundAt = 0
if fields.b and (not fields.u or fields.u < fields.b) then boundAt = fields.b end
local out = { fields.f or at, flags, boundAt }
for w, win in ipairs(windows) do
  for _, slot in ipairs({ 'n', 'a', 'p', 'q' }) do
    out[#out + 1] = sums[w][slot] + math.floor(partial[w][slot] * win.weight / win.bucket)
  end
end

-- Distinct related entities per window, from one range read of the sorted set.
if #relations > 0 then
  local counts = {}
  for r = 1, #relations do
    counts[r] = {}
    for w = 1, #windows do counts[r][w] = 0 end
  end
  local seen = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.0f', at - retention), '+inf', 'WITHSCORES')
  for j = 1, #seen, 2 do
    local code, last = string.sub(seen[j], 1, 1), tonumber(seen[j + 1])
    for r = 1, #relations do
      if relations[r] == code then
        for w, win in ipairs(windows) do
          if last > at - win.ms then counts[r][w] = counts[r][w] + 1 end
        end
      end
    end
  end
  for r = 1, #relations do
    for w = 1, #windows do out[#out + 1] = counts[r][w] end
  end
end

return out
