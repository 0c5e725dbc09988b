--[[
  Count one event for one or more entities and read every window of each, atomically.
  Each entity's keys share its hash tag. On Redis Cluster the store sends one entity per call (single
  slot); on a single node it sends all of an event's entities in one call.
  The reference for npm run bench: lib/velocity/scripts/record-entities.lua (this paragraph aside) as it
  was before the velocity engine v2 (issue 9). Do not change it: the bench compares against it.

  Input, per entity e (KEYS in threes):
    KEYS[3e-2]  rh:{<kind>:<hash>}:v   the entity's hash:
                  "<code>" -> integer, code = index * 32 + resolution * 4 + metric: bucket `index` of
                     resolution number `resolution`; metric 0 count, 1 password-free count, 2 amount,
                     3 password-free amount, amounts in the entity's primary currency
                  "x<resolution>:<index>:<CUR>" / "y<resolution>:<index>:<CUR>" -> amount /
                     password-free amount in another currency
                  "c" primary currency, "w" the bucket sizes the codes refer to, "f" first seen,
                  "b" / "u" last bound / unbound (event ms, written by record-binding-1.lua)
    KEYS[3e-1]  rh:{<kind>:<hash>}:d   sorted set: <relation code><member hash> -> last seen (event ms)
    KEYS[3e]    rh:{<kind>:<hash>}:m:<event key>   marker: this event was already counted here; its value
                  holds the novelty flags of the first count, so a retry reads the same facts

  ARGV, shared:
    [1] at: event time, epoch ms      [2] amount, minor units     [3] currency (ISO-4217)
    [4] "1" when password-free        [5] TTL of entity keys, ms  [6] TTL of a marker, ms
    [7] most members kept per sorted set                          [8] retention of members, ms
    [9] the distinct bucket sizes, comma-separated, in resolution order (written to "w")
    [10] number of windows W, then W triples: window ms, bucket ms, resolution number
  then per entity, in KEYS order: number of reported relations R, R relation codes,
    number of members M, M members (relation code .. member hash)

  Output, per entity in order: firstSeenAt, flags, boundAt (0: not bound), then per window: count,
    amount, pfCount, pfAmount, then per reported relation, per window: distinct count.
    flags: "1"/"0" for "entity is new", then one per reported relation: "its member is new here".
]]

local at = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local currency = ARGV[3]
local passwordFree = ARGV[4] == '1'
local ttl, markerTtl = ARGV[5], ARGV[6]
local cap = tonumber(ARGV[7])
local memberCutoff = at - tonumber(ARGV[8])
local layout = ARGV[9]
local floor, fmt = math.floor, string.format

-- Windows, and per resolution the newest bucket and the oldest bucket any of its windows reads.
local windows, resolutions = {}, {}
local a = 10
for w = 1, tonumber(ARGV[a]) do
  local ms, bucket, r = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local start = at - ms
  local oldest = floor(start / bucket)
  local newest = floor(at / bucket)
  windows[w] = { ms = ms, bucket = bucket, r = r, oldest = oldest, newest = newest, weight = (oldest + 1) * bucket - start }
  local res = resolutions[r]
  if not res then
    resolutions[r] = { newest = newest, keep = oldest }
  elseif oldest < res.keep then
    res.keep = oldest
  end
  a = a + 3
end
local nw = #windows
a = a + 1

local out = {}

local function record(hashKey, setKey, markerKey, relations, members)
  -- Read: the hash (numeric names are bucket counters) and the related entities with their last-seen.
  local codes, named = {}, {}
  local flat = redis.call('HGETALL', hashKey)
  for j = 1, #flat, 2 do
    local code = tonumber(flat[j])
    if code then codes[code] = tonumber(flat[j + 1]) else named[flat[j]] = flat[j + 1] end
  end
  local seen = {}
  if #relations > 0 or #members > 0 then
    local all = redis.call('ZRANGE', setKey, 0, -1, 'WITHSCORES')
    for j = 1, #all, 2 do seen[all[j]] = tonumber(all[j + 1]) end
  end
  local firstSeen = tonumber(named.f)

  -- Novelty, before this event's members are added.
  local flags = firstSeen and '0' or '1'
  for r = 1, #relations do
    local new = '0'
    for m = 1, #members do
      if string.sub(members[m], 1, 1) == relations[r] and not seen[members[m]] then new = '1' end
    end
    flags = flags .. new
  end

  -- Count once: the marker is set only if absent; if it was there, this is a retry: read, do not write.
  local previous = redis.call('SET', markerKey, flags, 'NX', 'PX', markerTtl, 'GET')
  if previous then
    flags = previous
  else
    -- Related entities: last seen (only ever moves forward), trimmed by time, then capped (oldest first).
    if #members > 0 then
      local zadd = { 'ZADD', setKey, 'GT' }
      for m = 1, #members do
        local member = members[m]
        zadd[#zadd + 1] = at
        zadd[#zadd + 1] = member
        if not seen[member] or at > seen[member] then seen[member] = at end
      end
      redis.call(unpack(zadd))
      local card, stale = 0, 0
      for _, last in pairs(seen) do
        card = card + 1
        if last <= memberCutoff then stale = stale + 1 end
      end
      if stale > 0 then
        redis.call('ZREMRANGEBYSCORE', setKey, '-inf', memberCutoff)
        for member, last in pairs(seen) do
          if last <= memberCutoff then seen[member] = nil end
        end
        card = card - stale
      end
      if card > cap then
        -- Drop the least recently seen; then read back what is left (ties are ordered by the set itself).
        redis.call('ZREMRANGEBYRANK', setKey, 0, card - cap - 1)
        seen = {}
        local all = redis.call('ZRANGE', setKey, 0, -1, 'WITHSCORES')
        for j = 1, #all, 2 do seen[all[j]] = tonumber(all[j + 1]) end
      end
      redis.call('PEXPIRE', setKey, ttl)
    end

    local updates = {}
    local dropped = {}
    -- Counters of another bucket layout (the policy's windows changed) cannot be read: start afresh.
    if named.w ~= layout then
      for code in pairs(codes) do dropped[#dropped + 1] = fmt('%.0f', code) end
      for name in pairs(named) do
        local kind = string.sub(name, 1, 1)
        if kind == 'x' or kind == 'y' then
          dropped[#dropped + 1] = name
          named[name] = nil
        end
      end
      codes = {}
      named.c = nil
      updates[1], updates[2] = 'w', layout
    end
    if not named.c then
      named.c = currency
      updates[#updates + 1], updates[#updates + 2] = 'c', currency
    end
    if not firstSeen or at < firstSeen then
      updates[#updates + 1], updates[#updates + 2] = 'f', fmt('%.0f', at)
      firstSeen = at
    end

    -- This event's bucket at each resolution.
    local opened = not flat[1]
    for r, res in pairs(resolutions) do
      local base = res.newest * 32 + r * 4
      if not codes[base] then opened = true end
      local v = (codes[base] or 0) + 1
      codes[base] = v
      updates[#updates + 1], updates[#updates + 2] = fmt('%.0f', base), v
      if passwordFree then
        v = (codes[base + 1] or 0) + 1
        codes[base + 1] = v
        updates[#updates + 1], updates[#updates + 2] = fmt('%.0f', base + 1), v
      end
      if currency == named.c then
        v = (codes[base + 2] or 0) + amount
        codes[base + 2] = v
        updates[#updates + 1], updates[#updates + 2] = fmt('%.0f', base + 2), fmt('%.0f', v)
        if passwordFree then
          v = (codes[base + 3] or 0) + amount
          codes[base + 3] = v
          updates[#updates + 1], updates[#updates + 2] = fmt('%.0f', base + 3), fmt('%.0f', v)
        end
      else
        local suffix = r .. ':' .. fmt('%.0f', res.newest) .. ':' .. currency
        for _, field in ipairs(passwordFree and { 'x' .. suffix, 'y' .. suffix } or { 'x' .. suffix }) do
          v = (tonumber(named[field]) or 0) + amount
          named[field] = v
          updates[#updates + 1], updates[#updates + 2] = field, fmt('%.0f', v)
        end
      end
    end
    redis.call('HSET', hashKey, unpack(updates))

    -- The oldest bucket a window reads moves only when a new bucket opens: only then can fields go
    -- stale, and only then is the expiry renewed (it outlasts the longest window by a day).
    if opened then
      for code in pairs(codes) do
        local index = floor(code / 32)
        local res = resolutions[floor((code - index * 32) / 4)]
        if res and index < res.keep then
          dropped[#dropped + 1] = fmt('%.0f', code)
          codes[code] = nil
        end
      end
      for name in pairs(named) do
        local r, index = string.match(name, '^[xy](%d+):(%d+):')
        local res = r and resolutions[tonumber(r)]
        if res and tonumber(index) < res.keep then
          dropped[#dropped + 1] = name
          named[name] = nil
        end
      end
      redis.call('PEXPIRE', hashKey, ttl)
    end
    if #dropped > 0 then redis.call('HDEL', hashKey, unpack(dropped)) end
  end

  -- Window sums: full buckets after the oldest, plus the oldest weighted by its share in the window.
  local sums = {}
  for w = 1, nw do sums[w] = { 0, 0, 0, 0, 0, 0, 0, 0 } end -- 1-4 full buckets, 5-8 the oldest
  local primary = currency == named.c
  for code, value in pairs(codes) do
    local index = floor(code / 32)
    local rest = code - index * 32
    local r, metric = floor(rest / 4), rest % 4
    if primary or metric < 2 then
      for w = 1, nw do
        local win = windows[w]
        if win.r == r then
          if index > win.oldest and index <= win.newest then
            sums[w][metric + 1] = sums[w][metric + 1] + value
          elseif index == win.oldest then
            sums[w][metric + 5] = value
          end
        end
      end
    end
  end
  if not primary then
    for name, value in pairs(named) do
      local kind, r, index, cur = string.match(name, '^([xy])(%d+):(%d+):(%u+)$')
      if cur == currency then
        local metric = kind == 'x' and 3 or 4
        r, index, value = tonumber(r), tonumber(index), tonumber(value)
        for w = 1, nw do
          local win = windows[w]
          if win.r == r then
            if index > win.oldest and index <= win.newest then
              sums[w][metric] = sums[w][metric] + value
            elseif index == win.oldest then
              sums[w][metric + 4] = value
            end
          end
        end
      end
    end
  end

  local bound, unbound = tonumber(named.b), tonumber(named.u)
  out[#out + 1] = firstSeen or at
  out[#out + 1] = flags
  out[#out + 1] = (bound and (not unbound or unbound < bound)) and bound or 0
  for w = 1, nw do
    local s, win = sums[w], windows[w]
    out[#out + 1] = s[1] + floor(s[5] * win.weight / win.bucket)
    out[#out + 1] = s[3] + floor(s[7] * win.weight / win.bucket)
    out[#out + 1] = s[2] + floor(s[6] * win.weight / win.bucket)
    out[#out + 1] = s[4] + floor(s[8] * win.weight / win.bucket)
  end

  -- Distinct related entities per window (members seen after the retention cutoff, this event's included).
  for r = 1, #relations do
    local code = relations[r]
    local counts = {}
    for w = 1, nw do counts[w] = 0 end
    for member, last in pairs(seen) do
      if last > memberCutoff and string.sub(member, 1, 1) == code then
        for w = 1, nw do
          if last > at - windows[w].ms then counts[w] = counts[w] + 1 end
        end
      end
    end
    for w = 1, nw do out[#out + 1] = counts[w] end
  end
end

for e = 1, #KEYS / 3 do
  local relations, members = {}, {}
  for r = 1, tonumber(ARGV[a]) do relations[r] = ARGV[a + r] end
  a = a + #relations + 1
  for m = 1, tonumber(ARGV[a]) do members[m] = ARGV[a + m] end
  a = a + #members + 1
  record(KEYS[3 * e - 2], KEYS[3 * e - 1], KEYS[3 * e], relations, members)
end

return out
