#!lua name=__LIBRARY__
--[[
  The velocity engine: record an event (count it once, read what the plan reads) or commit its
  outcome (approved spend, device pairs and trust), for one or more entities, atomically.
  Mirrors lib/velocity/memory.ts exactly (the differential test holds them to it).
  This file is the shared part: markers and claims, ring and pair helpers. The store's plan
  (lib/velocity/plan.ts) is written in as code: lib/velocity/library.ts generates a recorder and a
  committer per entity kind in straight-line Lua (its bucket sizes, ring sizes, struct formats,
  metrics, relations and windows as constants) and writes them in below, where the recorders placeholder stands.
  A Redis Functions library (FUNCTION LOAD once per server, reloaded on "Function not found"), built
  on the first call after a load, so a call carries only the event. The library and its function
  (the library's name + "v") are named after a hash of the text, so two plans never collide. Called
  as FCALL <function> <1 + entities> KEYS... ARGV...; KEYS and ARGV below are the function's.

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
                 "t" / "T<CUR>"            running totals of whole-ring reads, counts / amounts in CUR
                                           (library.ts totalsOf: a cache of the buckets, rescanned at each TTL renewal)
                 "z<codes>"                per related set kept (codes: their relations'), its floor (i7): no
                                           member's last seen is below it (relate; -2^55: not known)

  ARGV[1]  "record", "commit" or "claim" (single node: claim-decision-1.lua's claim, then record)
  ARGV[2]  t, the counted time (velocity clock), epoch ms      ARGV[3]  received, epoch ms
  ARGV[4]  amount, minor units                                  ARGV[5]  currency
  ARGV[6]  "1" password-free                                    ARGV[7]  marker TTL, ms
  ARGV[8]  most members per related set, and most device pairs  ARGV[9]  most currencies per entity
  ARGV[10] device retention, ms
  ARGV[11] commit: the decision JSON ("" on a cluster entity call); claim: now, epoch ms
  ARGV[12] commit: "1" approved; claim: a pending claim this old (ms) is taken over
  ARGV[13] commit: "1" strongly authenticated                        ARGV[14] "d" KEYS[1] is the decision record, "m" a marker
  ARGV[15] X, how many of the last KEYS are list membership hashes rh:{<kind>:<hash>}:l (fields block,
           allow: expiry ms), not entities' (claim on a single node, else 0): read with the record
  then per entity, in KEYS order: its kind code (which generated recorder), its members: L x (member
    hash or "-", one per relation its plan keeps), device hash or "-".

  Output, claim: { "decided", <decision JSON> } | { "pending" } | { "claimed" | "takeover", then as record }.
  Output, record: per entity: first seen, flags, bound at (0: not bound), newest, the N reads (as strings), the
    distinct counts (per relation, per window), then when pairs and a device: pair first, last, trusted
    (0 0 0: none). flags: "1"/"0" entity new, then one per relation: its member is new here. With
    list keys: then how many of them exist, and when any does, block and allow expiry per key ("" when none).
  Output, commit: 1, or 0 when the event was committed already.
]]

-- Everything below is built on the first call (Redis 7.0 gives a library no Lua globals while it loads).
local function build()
  -- The call's keys, arguments and event, set by each call (Redis runs one call at a time).
  local KEYS, ARGV
  local mode, t, received, amount, currency, passwordFree
  -- t as text, and the field of the currency's newest time ("c<CUR>"), once per call
  local tText, currencyField, totalsField
  local markerTtl, cap, currencyCap, deviceRetention
  local MAX = 9007199254740991
  local RENEW_EVERY = 43200000
  local floor, fmt, sub = math.floor, string.format, string.sub
  local pack, unpackStruct = struct.pack, struct.unpack
  local function int(x) return fmt('%.0f', x) end
  -- A sum as a reply: an integer reply below 2^52 (exact, and no formatting), text above (ioredis
  -- decodes integer replies near 2^53 inexactly).
  local function sumReply(x) if x < 4503599627370496 then return x end return fmt('%.0f', x) end
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
    if lo == 0 and hi == 0 then return lo, hi, drop end
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
  -- before cutoff), their amount fields with them; `list` is the "C" field. Returns how many are
  -- kept, and the new list.
  local function forgetCurrencies(key, cutoff, rings, list)
    list = list or ''
    local codes, lastFields = {}, {}
    for j = 1, #list, 3 do
      codes[#codes + 1] = sub(list, j, j + 2)
      lastFields[#lastFields + 1] = 'c' .. sub(list, j, j + 2)
    end
    if #codes == 0 then return 0, '' end
    local lasts = redis.call('HMGET', key, unpack(lastFields))
    local kept, drop = {}, {}
    for j, cur in ipairs(codes) do
      local last = lasts[j] and unpackStruct('<i7', lasts[j])
      if last and last > cutoff then
        kept[#kept + 1] = cur
      else
        drop[#drop + 1] = 'c' .. cur
        drop[#drop + 1] = 'T' .. cur
        for _, ring in ipairs(rings) do
          for slot = 0, ring.n - 1 do drop[#drop + 1] = ring.names[slot] .. cur end
        end
      end
    end
    hdel(key, drop)
    local left = table.concat(kept)
    redis.call('HSET', key, 'C', left)
    return #kept, left
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

  -- The fields of the live buckets idx in [lo, hd] other than own, and their indexes, appended to need and IDX.
  local function collectIdx(need, IDX, lo, hd, own, n, mlo, mhi, names)
    if mlo == 0 and mhi == 0 then return end
    for idx = lo, hd do
      local slot = idx % n
      if idx ~= own and (slot < 32 and band(mlo, BIT[slot]) or band(mhi, BIT[slot - 32])) ~= 0 then
        local at = #need + 1
        need[at] = names[slot]
        IDX[at] = idx
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
  -- trims the set by time and then to the cap, least recently seen first. Returns "1" when novel, and
  -- the set's floor `least`: no member's last seen is below it (UNKNOWN: not known). Above the cutoff, no
  -- member is past the retention, so ZADD's reply alone tells a novel member (no ZSCORE, and the trim
  -- by time would remove nothing); else the member's score decides, and the floor is read again
  -- after a trim or at the TTL renewal (an exact min, so answers never depend on it).
  local UNKNOWN = -36028797018963968
  local function relate(zkey, member, cutoff, ttl, renew, least)
    if member == '-' then return '0', least end
    local novel
    if least > cutoff then
      novel = redis.call('ZADD', zkey, 'GT', tText, member) == 1
      -- A late member older than the retention goes again at once (the trim by time takes only it).
      if novel and t <= cutoff then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', int(cutoff))
      elseif novel and t < least then least = t end
    else
      local score = tonumber(redis.call('ZSCORE', zkey, member))
      novel = not score or score <= cutoff
      redis.call('ZADD', zkey, 'GT', tText, member)
      if novel then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', int(cutoff)) end
    end
    if novel then
      local card = redis.call('ZCARD', zkey)
      if card > cap then redis.call('ZREMRANGEBYRANK', zkey, 0, card - cap - 1) end
    end
    -- Not known, or maybe past: read after a trim, and at the TTL renewal (a set written before floors gets one).
    if least <= cutoff and (novel or renew) then
      local low = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
      least = low[2] and tonumber(low[2]) or MAX
    end
    if novel or renew then redis.call('PEXPIRE', zkey, ttl) end
    return novel and '1' or '0', least
  end

  -- The pair of the entity with an approved event's device: first and last approved (counted time),
  -- trusted since the first strongly authenticated one. A pair past the retention starts afresh; a
  -- new pair at the cap forgets pairs past the retention, then the least recently approved.
  local function commitPair(base, device, newest, ttl, strong)
    local pkey = base .. 'p'
    local cutoff = newest - deviceRetention
    local raw = redis.call('HGET', pkey, device)
    local first, last, trusted
    if raw then
      first, last, trusted = unpackStruct('<i7i7i7', raw)
    end
    if raw and last > cutoff then
      if t < first then first = t end
      if t > last then last = t end
      if strong and (trusted == 0 or t < trusted) then trusted = t end
    else
      first, last, trusted = t, t, strong and t or 0
    end
    if not raw and redis.call('HLEN', pkey) >= cap then
      local all = redis.call('HGETALL', pkey)
      local live, drop = {}, {}
      for j = 1, #all, 2 do
        local _, otherLast = unpackStruct('<i7i7i7', all[j + 1])
        if otherLast <= cutoff then drop[#drop + 1] = all[j] else live[#live + 1] = { d = all[j], last = otherLast } end
      end
      table.sort(live, function(x, y) if x.last ~= y.last then return x.last < y.last end return x.d < y.d end)
      for j = 1, #live - cap + 1 do drop[#drop + 1] = live[j].d end
      hdel(pkey, drop)
    end
    -- A new pair may make the key: its TTL. Existing pairs: the entity's TTL renewal (record) renews it.
    if redis.call('HSET', pkey, device, pack('<i7i7i7', first, last, trusted)) == 1 then redis.call('PEXPIRE', pkey, ttl) end
  end

  -- List membership on the same node, in the event's own call (one command, not one per entity).
  -- Appends to `out` how many of KEYS[from..] exist, then for each key its block and allow expiry when any does.
  local function readLists(from)
    local lists = {}
    for k = from, #KEYS do lists[#lists + 1] = KEYS[k] end
    local n = redis.call('EXISTS', unpack(lists))
    out[#out + 1] = n
    if n == 0 then return end
    for k = 1, #lists do
      local v = redis.call('HMGET', lists[k], 'block', 'allow')
      out[#out + 1] = v[1] or ''
      out[#out + 1] = v[2] or ''
    end
  end

  -- The recorders, one per entity kind, generated from the store's plan (lib/velocity/library.ts):
  -- RECORD[kind code](key, ARGV index of its members, flags of its first count or nil) appends the
  -- entity's reply to `out` and returns its flags; MEMBERS[kind code] is how many ARGV it takes.
  -- COMMIT[kind code](key, ARGV index of its members, strongly authenticated) does an approved
  -- event's commit for the entity.
  local RECORD, COMMIT, MEMBERS = {}, {}, {}
--__RECORDERS__

  local function run(keys, args)
    KEYS, ARGV = keys, args
    mode = ARGV[1]
    t, received = tonumber(ARGV[2]), tonumber(ARGV[3])
    amount, currency, passwordFree = tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
    tText, currencyField, totalsField = ARGV[2], 'c' .. ARGV[5], 'T' .. ARGV[5]
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
      local a = 16
      for e = 2, #KEYS do
        local code = ARGV[a]
        if not COMMIT[code] then return error('riskhook: no plan for entity kind ' .. tostring(code)) end
        if approved then COMMIT[code](KEYS[e], a + 1, strong) end
        a = a + 1 + MEMBERS[code]
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
    local a, last = 16, #KEYS - tonumber(ARGV[15])
    for e = 2, last do
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
    if last < #KEYS then readLists(last + 1) end
    return out
  end
  return run
end

local run
redis.register_function('__LIBRARY__v', function(keys, args)
  run = run or build()
  return run(keys, args)
end)
