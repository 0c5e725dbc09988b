#!lua name=__LIBRARY__
--[[
  The velocity engine: record an event (count it once, read what the plan reads) or commit its
  outcome (approved spend, device pairs and trust), for one or more entities, atomically.
  Mirrors lib/velocity/memory.ts exactly (the differential test holds them to it); the plan comes
  from lib/velocity/plan.ts and is encoded by lib/velocity/redis.ts (encodePlan).
  A Redis Functions library (FUNCTION LOAD once per server, reloaded on "Function not found"): the
  store's plans are written into it (PLAN_TEXT: "<kind code>=<encoded plan>;...") and parsed on the
  first call after a load (Redis 7.0 gives a library no Lua globals while it loads), so a call
  carries only the event. The library and its function (the library's name + "v") are named after a
  hash of the text and plans, so two plans never collide. Called as FCALL <function> <1 + entities>
  KEYS... ARGV...; KEYS and ARGV below are the function's keys and args.

  KEYS[1]      the event's marker. On a single node: the decision record rh:{e:<event>} ("P<ms>" while
               claimed, "P<ms>|<flags>;<flags>..." once recorded, the decision JSON once committed).
               On a cluster: rh:{<kind>:<hash>}:m:<event> ("P0|<flags>", then "...C" once committed).
  KEYS[1 + e]  rh:{<kind>:<hash>}:v, entity e's hash. Its other keys share the hash tag:
               rh:{<kind>:<hash>}:d<relation code>  sorted set: related entity hash -> last seen (counted ms)
               rh:{<kind>:<hash>}:p                 hash: device hash -> struct <i7i7i7> first, last, trusted since (0: not)
               Fields of the :v hash:
                 "s"   state, struct <i7i7i7I4B> newest, first seen, last TTL renewal (received ms), layout,
                       number of currencies kept; then per resolution ceil(slots / 8) bytes: bitmask of
                       the live ring slots (a live slot holds the one bucket congruent to it among the
                       newest `slots` buckets)
                 "<r * 64 + slot>"         counts of that bucket, struct <I4...> (the plan's count metrics)
                 "<r * 64 + slot><CUR>"    amounts in CUR, struct <I4 i7...>: the bucket index, then the plan's
                                           amount metrics (saturating at 2^53 - 1); read only when the index matches
                 "c<CUR>" newest counted time in CUR (i7)    "C" the currencies kept, 3 letters each
                 "b" / "u"                 last bound / unbound (record-binding-1.lua)

  ARGV[1]  "record", "commit" or "claim" (single node: claim-decision-1.lua's claim, then record)
  ARGV[2]  t, the counted time (velocity clock), epoch ms      ARGV[3]  received, epoch ms
  ARGV[4]  amount, minor units                                  ARGV[5]  currency
  ARGV[6]  "1" password-free                                    ARGV[7]  marker TTL, ms
  ARGV[8]  most members per related set, and most device pairs  ARGV[9]  most currencies per entity
  ARGV[10] device retention, ms
  ARGV[11] commit: the decision JSON ("" on a cluster entity call); claim: now, epoch ms
  ARGV[12] commit: "1" approved; claim: a pending claim this old (ms) is taken over
  ARGV[13] commit: "1" strongly authenticated                        ARGV[14] "d" KEYS[1] is the decision record, "m" a marker
  then per entity, in KEYS order: its kind code (its plan in PLAN_TEXT), its members: L x (member hash
    or "-"), device hash or "-".
  A plan (encodePlan): ttl, layout, C, C count metric codes (1-4), A, A amount metric codes (5-8), R,
    R x (bucket ms, slots, "1" when it keeps amounts), N, N x (metric code, window ms, own resolution),
    L, L x (relation code, retention ms, W, W window ms), pairs ("1"/"0").

  Output, record: per entity: first seen, flags, bound at (0: not bound), newest, the N reads (as strings), the
    distinct counts (per relation, per window), then when pairs and a device: pair first, last, trusted
    (0 0 0: none). flags: "1"/"0" entity new, then one per relation: its member is new here.
  Output, commit: 1, or 0 when the event was committed already.
]]

local PLAN_TEXT = '__PLANS__'

-- Everything below is built on the first call (the load has no globals): the plans, parsed once.
local function build()
  -- The call's keys, arguments and event, set by each call (Redis runs one call at a time).
  local KEYS, ARGV
  local mode, t, received, amount, currency, passwordFree
  local markerTtl, cap, currencyCap, deviceRetention
  local MAX = 9007199254740991
  local RENEW_EVERY = 43200000
  local floor, fmt, sub, byte, char = math.floor, string.format, string.sub, string.byte, string.char
  local pack, unpackStruct = struct.pack, struct.unpack
  local function int(x) return fmt('%.0f', x) end
  local function sat(a, b) local s = a + b; if s > MAX then return MAX end return s end

  -- HDEL in bounded chunks: no entity's history can make an unpack fail.
  local function hdel(key, fields)
    local i = 1
    while i <= #fields do
      local j = math.min(i + 499, #fields)
      redis.call('HDEL', key, unpack(fields, i, j))
      i = j + 1
    end
  end

  -- A plan (see the header) from its encoded fields, parsed once when the library loads.
  local function parsePlan(src)
    local a = 1
    local p = { ttl = src[a], layout = tonumber(src[a + 1]), counts = {}, amounts = {}, res = {}, reads = {}, rel = {} }
    a = a + 2
    for i = 1, tonumber(src[a]) do p.counts[i] = tonumber(src[a + i]) end
    a = a + #p.counts + 1
    for i = 1, tonumber(src[a]) do p.amounts[i] = tonumber(src[a + i]) end
    a = a + #p.amounts + 1
    for i = 1, tonumber(src[a]) do
      p.res[i] = { g = tonumber(src[a + 3 * i - 2]), n = tonumber(src[a + 3 * i - 1]), a = src[a + 3 * i] == '1' and #p.amounts > 0 }
    end
    a = a + 3 * #p.res + 1
    for i = 1, tonumber(src[a]) do
      p.reads[i] = { m = tonumber(src[a + 3 * i - 2]), w = tonumber(src[a + 3 * i - 1]), r = tonumber(src[a + 3 * i]) }
    end
    a = a + 3 * #p.reads + 1
    local nrel = tonumber(src[a])
    a = a + 1
    for i = 1, nrel do
      local rel = { code = src[a], retention = tonumber(src[a + 1]), windows = {} }
      for w = 1, tonumber(src[a + 2]) do rel.windows[w] = tonumber(src[a + 2 + w]) end
      a = a + 3 + #rel.windows
      p.rel[i] = rel
    end
    p.pairs = src[a] == '1'
    -- metric code -> position in the packed counts (1-4) or amounts (5-8)
    p.countAt, p.amountAt = {}, {}
    for i, m in ipairs(p.counts) do p.countAt[m] = i end
    for i, m in ipairs(p.amounts) do p.amountAt[m] = i end
    p.countFmt = '<' .. string.rep('I4', #p.counts)
    p.amountFmt = '<I4' .. string.rep('i7', #p.amounts)
    local span = 0
    for _, r in ipairs(p.res) do if r.a and r.g * r.n > span then span = r.g * r.n end end
    p.amountSpan = span
    return p
  end

  -- The store's plans by entity kind code, and every bucket field name ("<r * 64 + slot>"), built once.
  local PLANS, FIELDS = {}, {}
  for code, body in string.gmatch(PLAN_TEXT, '(%w+)=([^;]*)') do
    local src = {}
    for v in string.gmatch(body, '[^,]+') do src[#src + 1] = v end
    local p = parsePlan(src)
    PLANS[code] = p
    for i, r in ipairs(p.res) do
      FIELDS[i] = FIELDS[i] or {}
      for slot = 0, r.n - 1 do FIELDS[i][slot] = fmt('%d', (i - 1) * 64 + slot) end
    end
  end

  -- Entity plan at ARGV[a] (its kind code), with this call's members; returns it and the next index.
  local function readPlan(a)
    local p = PLANS[ARGV[a]]
    if not p then return error('riskhook: no plan for entity kind ' .. tostring(ARGV[a])) end
    a = a + 1
    p.members = {}
    for i = 1, #p.rel do p.members[i] = ARGV[a + i - 1] end
    a = a + #p.rel
    p.device = ARGV[a]
    return p, a + 1
  end

  -- State: nil when the entity has never been counted (or its layout changed: then its buckets go).
  local function readState(key, p, raw)
    if not raw then return nil end
    local newest, first, renewed, layout, ncur, pos = unpackStruct('<i7i7i7I4B', raw)
    if layout ~= p.layout then
      local all = redis.call('HGETALL', key)
      local drop = {}
      for j = 1, #all, 2 do
        if all[j] ~= 'b' and all[j] ~= 'u' then drop[#drop + 1] = all[j] end
      end
      hdel(key, drop)
      return nil
    end
    local s = { newest = newest, first = first, renewed = renewed, ncur = ncur, masks = {} }
    for i, r in ipairs(p.res) do
      local mask = {}
      for b = 0, floor((r.n + 7) / 8) - 1 do
        local v = byte(raw, pos + b) or 0
        for k = 0, 7 do
          if v % 2 == 1 then mask[b * 8 + k] = true end
          v = floor(v / 2)
        end
      end
      pos = pos + floor((r.n + 7) / 8)
      s.masks[i] = mask
    end
    return s
  end

  local function newState(p)
    local s = { newest = t, first = t, renewed = received, ncur = 0, masks = {} }
    for i = 1, #p.res do s.masks[i] = {} end
    return s
  end

  local function writeState(p, s)
    local parts = { pack('<i7i7i7I4B', s.newest, s.first, s.renewed, p.layout, s.ncur) }
    for i, r in ipairs(p.res) do
      local mask = s.masks[i]
      for b = 0, floor((r.n + 7) / 8) - 1 do
        local v = 0
        for k = 7, 0, -1 do v = v * 2 + (mask[b * 8 + k] and 1 or 0) end
        parts[#parts + 1] = char(v)
      end
    end
    return table.concat(parts)
  end

  local function zeros(n) local z = {} for i = 1, n do z[i] = 0 end return z end
  local function field(i, slot) return FIELDS[i][slot] end

  -- A bucket's counts, or zeros.
  local function counts(p, raw)
    if not raw then return zeros(#p.counts) end
    return { unpackStruct(p.countFmt, raw) }
  end

  -- A bucket's amounts in one currency, when the field holds bucket idx (else it is a stale slot: zeros).
  local function amounts(p, raw, idx)
    if raw then
      local v = { unpackStruct(p.amountFmt, raw) }
      if v[1] == idx then return { unpack(v, 2, #p.amounts + 1) } end
    end
    return zeros(#p.amounts)
  end

  -- One HMGET: the state, the bindings, the currency's entry, and this event's bucket at each resolution.
  local function readOwn(key, p)
    local fields = { 's', 'b', 'u', 'c' .. currency }
    local own = {}
    for i, r in ipairs(p.res) do
      own[i] = floor(t / r.g)
      local f = field(i, own[i] % r.n)
      fields[#fields + 1] = f
      if r.a then fields[#fields + 1] = f .. currency end
    end
    local got = redis.call('HMGET', key, unpack(fields))
    local vals = {}
    for j, f in ipairs(fields) do vals[f] = got[j] end
    return vals, own
  end

  local function decodePair(raw)
    if not raw then return nil end
    local first, last, trusted = unpackStruct('<i7i7i7', raw)
    return { first = first, last = last, trusted = trusted }
  end

  local function validPair(base, p, newest)
    if not p.pairs or p.device == '-' then return nil end
    local pair = decodePair(redis.call('HGET', base .. 'p', p.device))
    if pair and pair.last > newest - deviceRetention then return pair end
    return false
  end

  -- Is the event's currency kept? Kept already, or room for it after forgetting currencies with no live
  -- amount bucket left; at the cap a further currency counts only in its own answer (bounded fields).
  local function keepCurrency(key, p, s, vals)
    if vals['c' .. currency] then return true end
    if s.ncur >= currencyCap then
      local list = redis.call('HGET', key, 'C') or ''
      local codes = {}
      for j = 1, #list, 3 do codes[#codes + 1] = sub(list, j, j + 2) end
      local lasts = redis.call('HMGET', key, unpack(codes))
      local cutoff = s.newest - p.amountSpan
      local kept, drop = {}, {}
      for j, cur in ipairs(codes) do
        local last = lasts[j] and unpackStruct('<i7', lasts[j])
        if last and last > cutoff then
          kept[#kept + 1] = cur
        else
          drop[#drop + 1] = 'c' .. cur
          for i, r in ipairs(p.res) do
            if r.a then for slot = 0, r.n - 1 do drop[#drop + 1] = field(i, slot) .. cur end end
          end
        end
      end
      hdel(key, drop)
      s.ncur = #kept
      redis.call('HSET', key, 'C', table.concat(kept))
    end
    return s.ncur < currencyCap
  end

  -- Adds to this event's bucket at each resolution whose ring holds it: counts (by metric code 1-4)
  -- and, when `withAmounts`, amounts in the event's currency (codes 5-8, saturating). Appends the
  -- fields to `hset`; returns the buckets' new counts and amounts, and whether amounts were written.
  local function addToBuckets(p, s, vals, own, addCounts, addAmounts, withAmounts, hset)
    local ownCounts, ownAmounts, wrote = {}, {}, false
    for i, r in ipairs(p.res) do
      if own[i] > floor(s.newest / r.g) - r.n then
        local slot = own[i] % r.n
        local live = s.masks[i][slot]
        s.masks[i][slot] = true
        local f = field(i, slot)
        if #p.counts > 0 then
          local v = counts(p, live and vals[f])
          for k, m in ipairs(p.counts) do v[k] = v[k] + addCounts[m] end
          ownCounts[i] = v
          hset[#hset + 1] = f
          hset[#hset + 1] = pack(p.countFmt, unpack(v, 1, #p.counts))
        end
        if withAmounts and r.a then
          wrote = true
          local v = amounts(p, vals[f .. currency], own[i])
          for k, m in ipairs(p.amounts) do v[k] = sat(v[k], addAmounts[m - 4]) end
          ownAmounts[i] = v
          hset[#hset + 1] = f .. currency
          hset[#hset + 1] = pack(p.amountFmt, own[i], unpack(v, 1, #p.amounts))
        end
      end
    end
    return ownCounts, ownAmounts, wrote
  end

  local out

  -- Fast primitives for the generated recorders: ring masks as two 32-bit words (slots 0-31, 32-63)
  -- with Redis Lua's `bit` library, multi-return struct.unpack, no table per bucket.
  local band, bor, bnot = bit.band, bit.bor, bit.bnot
  local BIT = {}
  for i = 0, 31 do BIT[i] = bit.lshift(1, i) end
  local function isLive(lo, hi, slot)
    if slot < 32 then return band(lo, BIT[slot]) ~= 0 end
    return band(hi, BIT[slot - 32]) ~= 0
  end
  local function setLive(lo, hi, slot)
    if slot < 32 then return bor(lo, BIT[slot]), hi end
    return lo, bor(hi, BIT[slot - 32])
  end
  -- A mask word as struct packs it (unsigned).
  local function u32(x) if x < 0 then return x + 4294967296 end return x end

  -- Drops the live slots of the buckets that fell out of a ring when its head moved from oldHead to newHead.
  local function trim(drop, lo, hi, oldHead, newHead, n, names)
    for idx = oldHead - n + 1, math.min(oldHead, newHead - n) do
      local slot = idx % n
      if isLive(lo, hi, slot) then
        if slot < 32 then lo = band(lo, bnot(BIT[slot])) else hi = band(hi, bnot(BIT[slot - 32])) end
        drop = drop or {}
        drop[#drop + 1] = names[slot]
      end
    end
    return lo, hi, drop
  end

  -- The amount field names of one ring in one currency ("<r * 64 + slot><CUR>"), built once per currency.
  local CURRENCY_NAMES = {}
  local function amountNames(names, cur)
    local byCur = CURRENCY_NAMES[names]
    if not byCur then byCur = {}; CURRENCY_NAMES[names] = byCur end
    local got = byCur[cur]
    if not got then
      got = {}
      for slot, f in pairs(names) do got[slot] = f .. cur end
      byCur[cur] = got
    end
    return got
  end

  -- The entity's buckets were written for another plan: they go (bindings stay).
  local function dropLayout(key)
    local all = redis.call('HGETALL', key)
    local drop = {}
    for j = 1, #all, 2 do
      if all[j] ~= 'b' and all[j] ~= 'u' then drop[#drop + 1] = all[j] end
    end
    hdel(key, drop)
  end

  -- The pair of the entity with the event's device while within the retention: first, last, trusted since.
  local function pairOf(base, device, newest)
    if device == '-' then return nil end
    local raw = redis.call('HGET', base .. 'p', device)
    if raw then
      local first, last, trusted = unpackStruct('<i7i7i7', raw)
      if last > newest - deviceRetention then return first, last, trusted end
    end
    return nil
  end

  -- At the currency cap: forget the currencies with no live amount bucket left (newest in it at or
  -- before cutoff), their amount fields with them; returns how many are kept.
  local function forgetCurrencies(key, cutoff, rings)
    local list = redis.call('HGET', key, 'C') or ''
    local codes, lastFields = {}, {}
    for j = 1, #list, 3 do
      codes[#codes + 1] = sub(list, j, j + 2)
      lastFields[#lastFields + 1] = 'c' .. sub(list, j, j + 2)
    end
    if #codes == 0 then return 0 end
    local lasts = redis.call('HMGET', key, unpack(lastFields))
    local kept, drop = {}, {}
    for j, cur in ipairs(codes) do
      local last = lasts[j] and unpackStruct('<i7', lasts[j])
      if last and last > cutoff then
        kept[#kept + 1] = cur
      else
        drop[#drop + 1] = 'c' .. cur
        for _, ring in ipairs(rings) do
          for slot = 0, ring.n - 1 do drop[#drop + 1] = ring.names[slot] .. cur end
        end
      end
    end
    hdel(key, drop)
    redis.call('HSET', key, 'C', table.concat(kept))
    return #kept
  end

  -- Adds the fields of the live buckets idx in [lo, hd] other than own to one HMGET (`need`, `pos`:
  -- field -> place), and their places and indexes to a read's lists.
  local function collect(need, pos, lst, ix, lo, hd, own, n, mlo, mhi, names)
    if mlo == 0 and mhi == 0 then return end
    for idx = lo, hd do
      local slot = idx % n
      if idx ~= own and (slot < 32 and band(mlo, BIT[slot]) or band(mhi, BIT[slot - 32])) ~= 0 then
        local f = names[slot]
        local at = pos[f]
        if not at then
          at = #need + 1
          need[at] = f
          pos[f] = at
        end
        lst[#lst + 1] = at
        ix[#ix + 1] = idx
      end
    end
  end

  local function sumCounts(got, lst, fmt, k)
    local s = 0
    for j = 1, #lst do
      local raw = got[lst[j]]
      if raw then s = s + (select(k, unpackStruct(fmt, raw))) end
    end
    return s
  end

  local function amountOf(want, k, idx, ...)
    if idx ~= want then return 0 end
    return (select(k, ...))
  end

  local function sumAmounts(got, lst, ix, fmt, k)
    local s = 0
    for j = 1, #lst do
      local raw = got[lst[j]]
      if raw then s = sat(s, amountOf(ix[j], k, unpackStruct(fmt, raw))) end
    end
    return s
  end

  -- The related set's member: last seen moves forward only; a member new here (or past the retention)
  -- trims the set by time and then to the cap, least recently seen first. Returns "1" when novel.
  local function relate(zkey, member, cutoff, ttl, renew)
    if member == '-' then return '0' end
    local score = tonumber(redis.call('ZSCORE', zkey, member))
    local novel = not score or score <= cutoff
    redis.call('ZADD', zkey, 'GT', int(t), member)
    if novel then
      redis.call('ZREMRANGEBYSCORE', zkey, '-inf', int(cutoff))
      local card = redis.call('ZCARD', zkey)
      if card > cap then redis.call('ZREMRANGEBYRANK', zkey, 0, card - cap - 1) end
    end
    if novel or renew then redis.call('PEXPIRE', zkey, ttl) end
    return novel and '1' or '0'
  end

  -- The recorders, one per entity kind, generated from the store's plan (lib/velocity/library.ts):
  -- RECORD[kind code](key, ARGV index of its members, flags of its first count or nil) appends the
  -- entity's reply to `out` and returns its flags; MEMBERS[kind code] is how many ARGV it takes.
  local RECORD, MEMBERS = {}, {}
--__RECORDERS__

  local function commit(key, p, approved, strong)
    if not approved then return end
    local base = sub(key, 1, -2)
    local vals, own = readOwn(key, p)
    if not vals.s then return end
    local s = readState(key, p, vals.s)
    if not s then return end
    local approvedCount, approvedAmount = p.countAt[4], p.amountAt[8]
    if approvedCount or approvedAmount then
      local kept = vals['c' .. currency] and true or false
      local hset = {}
      addToBuckets(p, s, vals, own, { 0, 0, 0, 1 }, { 0, 0, 0, amount }, approvedAmount and kept, hset)
      hset[#hset + 1] = 's'
      hset[#hset + 1] = writeState(p, s)
      redis.call('HSET', key, unpack(hset))
    end
    if not p.pairs or p.device == '-' then return end
    local pkey = base .. 'p'
    local cutoff = s.newest - deviceRetention
    local found = decodePair(redis.call('HGET', pkey, p.device))
    local pair
    if found and found.last > cutoff then
      pair = { first = math.min(found.first, t), last = math.max(found.last, t), trusted = found.trusted }
      if strong and (pair.trusted == 0 or t < pair.trusted) then pair.trusted = t end
    else
      pair = { first = t, last = t, trusted = strong and t or 0 }
    end
    if not found and redis.call('HLEN', pkey) >= cap then
      -- Full: forget pairs past the retention, then the least recently approved.
      local all = redis.call('HGETALL', pkey)
      local live, drop = {}, {}
      for j = 1, #all, 2 do
        local other = decodePair(all[j + 1])
        if other.last <= cutoff then drop[#drop + 1] = all[j] else live[#live + 1] = { d = all[j], last = other.last } end
      end
      table.sort(live, function(x, y) if x.last ~= y.last then return x.last < y.last end return x.d < y.d end)
      for j = 1, #live - cap + 1 do drop[#drop + 1] = live[j].d end
      hdel(pkey, drop)
    end
    redis.call('HSET', pkey, p.device, pack('<i7i7i7', pair.first, pair.last, pair.trusted))
    redis.call('PEXPIRE', pkey, p.ttl)
  end

  local function run(keys, args)
    KEYS, ARGV = keys, args
    mode = ARGV[1]
    t, received = tonumber(ARGV[2]), tonumber(ARGV[3])
    amount, currency, passwordFree = tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
    markerTtl, cap, currencyCap, deviceRetention = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
    out = {}
    local markerIsDecision = ARGV[14] == 'd'
    local marker = redis.call('GET', KEYS[1])

    if mode == 'commit' then
      local approved, strong = ARGV[12] == '1', ARGV[13] == '1'
      if markerIsDecision then
        if marker and sub(marker, 1, 1) ~= 'P' then return 0 end
      elseif marker and sub(marker, -1) == 'C' then
        return 0
      end
      local a = 15
      for e = 2, #KEYS do
        local p
        p, a = readPlan(a)
        commit(KEYS[e], p, approved, strong)
      end
      if markerIsDecision then
        redis.call('SET', KEYS[1], ARGV[11], 'PX', markerTtl)
      else
        redis.call('SET', KEYS[1], (marker or 'P0|') .. 'C', 'PX', markerTtl)
      end
      return 1
    end

    -- claim (single node): the claim of claim-decision-1.lua, then the record below when this attempt decides.
    local claimed
    if mode == 'claim' then
      if marker then
        if sub(marker, 1, 1) ~= 'P' then return { 'decided', marker } end
        if tonumber(ARGV[11]) - tonumber(string.match(marker, '^P(%d+)')) < tonumber(ARGV[12]) then return { 'pending' } end
        claimed = 'takeover'
      else
        claimed = 'claimed'
      end
      out[1] = claimed
    end

    -- record: a marker with "|" means the event was counted already: read only, with its first flags.
    local recorded
    local prefix = marker or 'P0'
    if marker then
      local bar = string.find(marker, '|', 1, true)
      if bar then
        recorded = {}
        local rest = sub(marker, bar + 1)
        if sub(rest, -1) == 'C' then rest = sub(rest, 1, -2) end
        local from = 1
        while true do
          local semi = string.find(rest, ';', from, true)
          recorded[#recorded + 1] = sub(rest, from, (semi or 0) - 1)
          if not semi then break end
          from = semi + 1
        end
        prefix = sub(marker, 1, bar - 1)
      elseif sub(marker, 1, 1) ~= 'P' then
        recorded = {} -- decided already
      end
    end
    local flags = {}
    local a = 15
    for e = 2, #KEYS do
      local code = ARGV[a]
      local rec = RECORD[code]
      if not rec then return error('riskhook: no plan for entity kind ' .. tostring(code)) end
      local given
      if recorded then given = recorded[e - 1] or '' end
      flags[e - 1] = rec(KEYS[e], a + 1, given)
      a = a + 1 + MEMBERS[code]
    end
    if claimed then
      -- The attempt's start time replaces the last one's (a takeover keeps what was counted).
      local bar = marker and string.find(marker, '|', 1, true)
      local rest = bar and sub(marker, bar) or '|' .. table.concat(flags, ';')
      redis.call('SET', KEYS[1], 'P' .. ARGV[11] .. rest, 'PX', markerTtl)
    elseif not recorded then
      if marker then
        redis.call('SET', KEYS[1], prefix .. '|' .. table.concat(flags, ';'), 'KEEPTTL')
      else
        redis.call('SET', KEYS[1], prefix .. '|' .. table.concat(flags, ';'), 'PX', markerTtl)
      end
    end
    return out
  end
  return run
end

local run
redis.register_function('__LIBRARY__v', function(keys, args)
  run = run or build()
  return run(keys, args)
end)
