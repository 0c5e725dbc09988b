/**
 * The velocity engine's Redis Functions library for one store plan: velocity.lua (the shared engine:
 * markers, commit, helpers) with a recorder per entity kind generated here in straight-line Lua.
 * The plan is known when the store is created, so each recorder touches exactly the fields, rings,
 * metrics and relations its plan keeps and reads, with the bucket sizes, ring sizes, struct formats
 * and field names written in as constants: no plan is parsed or looped over on a call. The library
 * and its function are named after a hash of the text, so two plans never collide on a server.
 */
import { createHash } from 'node:crypto';
import { AMOUNT_METRICS, type EntityPlan, METRICS, type Metric, type StorePlan, amountSpan } from './plan.js';
import { VELOCITY_LIBRARY } from './scripts/index.js';
import { KIND_CODE } from './store.js';

export interface VelocityLibrary {
  /** FUNCTION LOAD text. */
  readonly text: string;
  /** The library's name (FUNCTION LIST LIBRARYNAME). */
  readonly name: string;
  /** The function FCALL calls. */
  readonly function: string;
}

export function velocityLibrary(plan: StorePlan): VelocityLibrary {
  const entities = Object.values(plan.entities);
  const recorders = entities.map((p) => `${recorder(p)}\n${committer(p)}`).join('\n');
  const body = VELOCITY_LIBRARY.replace('--__RECORDERS__', () => recorders);
  const name = `riskhook_${createHash('sha1').update(body).digest('hex').slice(0, 20)}`;
  return { text: body.replaceAll('__LIBRARY__', name), name, function: `${name}v` };
}

/** An entity plan as velocity.lua's generic commit reads it (see its header). */
export function encodePlan(plan: EntityPlan): (string | number)[] {
  const code = (m: string) => METRICS.indexOf(m as never) + 1;
  return [
    plan.ttlMs,
    layoutOf(plan),
    plan.counts.length,
    ...plan.counts.map(code),
    plan.amounts.length,
    ...plan.amounts.map(code),
    plan.resolutions.length,
    ...plan.resolutions.flatMap((r) => [r.bucketMs, r.slots, r.amounts ? '1' : '0']),
    plan.reads.length,
    ...plan.reads.flatMap((r) => [code(r.metric), r.window.ms, plan.resolutions.findIndex((x) => x.bucketMs === r.window.bucketMs) + 1]),
    plan.relations.length,
    ...plan.relations.flatMap((r) => [KIND_CODE[r.relation], r.retentionMs, r.windows.length, ...r.windows.map((w) => w.ms)]),
    plan.pairs ? '1' : '0',
  ];
}

/** A 32-bit fingerprint of what an entity's buckets hold: a policy that keeps something else starts them afresh. */
export function layoutOf(plan: Pick<EntityPlan, 'counts' | 'amounts' | 'resolutions'>): number {
  const text = JSON.stringify([plan.counts, plan.amounts, plan.resolutions]);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const isAmount = (m: Metric) => (AMOUNT_METRICS as readonly string[]).includes(m);

/** What one event adds to a metric at record time, as a Lua expression (approved metrics: commit). */
function contribution(m: Metric): string {
  switch (m) {
    case 'count':
      return '1';
    case 'passwordFreeCount':
      return '(passwordFree and 1 or 0)';
    case 'untrustedPasswordFreeCount':
      return '(untrusted and 1 or 0)';
    case 'amount':
      return 'amount';
    case 'passwordFreeAmount':
      return '(passwordFree and amount or 0)';
    case 'untrustedPasswordFreeAmount':
      return '(untrusted and amount or 0)';
    default:
      return '0';
  }
}

/** What the recorder and the committer of one kind share: its rings and the struct formats of its fields. */
function layout(p: EntityPlan) {
  const R = p.resolutions.map((r, i) => ({ ...r, i: i + 1, bytes: Math.ceil(r.slots / 8), amounts: r.amounts && p.amounts.length > 0 }));
  const lua = (s: string) => `'${s}'`;
  return {
    R,
    C: p.counts.length,
    A: p.amounts.length,
    countFmt: lua(`<${'I4'.repeat(p.counts.length)}`),
    amountFmt: lua(`<I4${'i7'.repeat(p.amounts.length)}`),
    stateFmt: lua(`<i7i7i7I4B${R.map((r) => (r.bytes <= 4 ? `I${r.bytes}` : `I4I${r.bytes - 4}`)).join('')}`),
    masks: R.map((r) => (r.bytes <= 4 ? `l${r.i}` : `l${r.i}, h${r.i}`)).join(', '),
    packedMasks: R.map((r) => (r.bytes <= 4 ? `u32(l${r.i})` : `u32(l${r.i}), u32(h${r.i})`)).join(', '),
  };
}

/**
 * Running totals: when every window the plan reads on a ring spans the whole ring (the window's
 * buckets plus the straddling one, as the plan sizes rings), a read of an event in the ring's newest
 * bucket is the sum of every live bucket of the ring. The recorder then keeps that sum per read
 * metric, updated with each bucket written or dropped, so the read is a field instead of a scan:
 *   "t"       count totals: struct <i7 i7...> the entity's newest time they are valid for, then per ring
 *             its read count metrics
 *   "T<CUR>"  amount totals in CUR: per ring <I4 i7...> the ring's newest bucket index they are valid
 *             for, then its read amount metrics; other currencies' totals catch up when their currency
 *             next comes (their fields keep their bucket index, so the buckets that left are known)
 * "" marks totals that could not be kept (a sum past 2^53 - 1): the next event scans and sets them
 * afresh, as one does every TTL renewal (12 h), so a total can never drift for long. Not used where
 * commit writes buckets (approved metrics) or a window is shorter than its ring.
 */
function totalsOf(p: EntityPlan, R: ReturnType<typeof layout>['R']) {
  const approved = p.counts.includes('approvedCount') || p.amounts.includes('approvedAmount');
  const ringOf = (bucketMs: number) => R.find((r) => r.bucketMs === bucketMs)!;
  const whole = p.reads.every((rd) => rd.window.ms === (ringOf(rd.window.bucketMs).slots - 1) * rd.window.bucketMs);
  if (approved || !whole || p.reads.length === 0) return undefined;
  const metrics = (amount: boolean) =>
    R.map((r) => {
      const read = p.reads.filter((rd) => rd.window.bucketMs === r.bucketMs && isAmount(rd.metric) === amount);
      const list = (amount ? p.amounts : p.counts) as readonly Metric[];
      const ks = [...new Set(read.map((rd) => list.indexOf(rd.metric) + 1))].sort((a, b) => a - b);
      return { r, ks };
    }).filter((g) => g.ks.length > 0);
  const counts = metrics(false);
  const amounts = metrics(true);
  return {
    counts,
    amounts,
    tFmt: `'<i7${'i7'.repeat(counts.reduce((n, g) => n + g.ks.length, 0))}'`,
    TFmt: `'<${amounts.map((g) => `I4${'i7'.repeat(g.ks.length)}`).join('')}'`,
    /** Lua names of the totals: tc<ring>_<k>, ta<ring>_<k>, and H<ring> the amount totals' bucket index. */
    tc: counts.flatMap((g) => g.ks.map((k) => `tc${g.r.i}_${k}`)),
    ta: amounts.flatMap((g) => g.ks.map((k) => `ta${g.r.i}_${k}`)),
    taWithHeads: amounts.flatMap((g) => [`H${g.r.i}`, ...g.ks.map((k) => `ta${g.r.i}_${k}`)]),
  };
}

/**
 * The recorder of one entity kind: count the event once (rings, currency, state, related sets) and
 * read the plan's windows, distinct counts and pair, exactly as memory.ts does (see velocity.lua's
 * header for the layout; the differential test holds the two to each other).
 */
function recorder(p: EntityPlan): string {
  const code = KIND_CODE[p.kind];
  const { R, C, A, countFmt, amountFmt, stateFmt, masks, packedMasks } = layout(p);
  const T = totalsOf(p, R);
  const L = p.relations.length;
  const members = p.relations.map((_, j) => `M${j + 1}`);
  const cs = (prefix: string) => p.counts.map((_, k) => `${prefix}${k + 1}`);
  const as = (prefix: string) => p.amounts.map((_, k) => `${prefix}${k + 1}`);
  const out: string[] = [];
  const w = (line: string) => out.push(line);

  w(`  -- ${p.kind}: counts ${p.counts.join(', ') || '-'}; amounts ${p.amounts.join(', ') || '-'}; rings ${R.map((r) => `${r.bucketMs / 1000}s x ${r.slots}`).join(', ') || '-'}`);
  for (const r of R) {
    w(`  local ${code}F${r.i} = {}`);
    w(`  for slot = 0, ${r.slots - 1} do ${code}F${r.i}[slot] = fmt('%d', ${(r.i - 1) * 64} + slot) end`);
  }
  const amountRings = R.filter((r) => r.amounts).map((r) => `{ n = ${r.slots}, names = ${code}F${r.i} }`);
  if (amountRings.length > 0) w(`  local ${code}AMOUNT_RINGS = { ${amountRings.join(', ')} }`);
  w(`  MEMBERS['${code}'] = ${L + 1}`);
  w(`  RECORD['${code}'] = function(key, a, given)`);
  if (L > 0 || p.pairs) w(`    local base = sub(key, 1, -2)`);
  if (L > 0) w(`    local ${members.join(', ')} = ${members.map((_, j) => `ARGV[a + ${j}]`).join(', ')}`);
  w(`    local dev = ARGV[a + ${L}]`);
  // One HMGET: state, bindings, the currency's newest time, and this event's bucket at each ring.
  const fields = [`'s'`, `'b'`, `'u'`, 'currencyField', ...(A > 0 ? [`'C'`] : [])];
  const ownVars: string[] = [];
  for (const r of R) {
    w(`    local o${r.i} = floor(t / ${r.bucketMs})`);
    w(`    local s${r.i} = o${r.i} % ${r.slots}`);
    fields.push(`${code}F${r.i}[s${r.i}]`);
    ownVars.push(`rc${r.i}`);
    if (r.amounts) {
      fields.push(`amountNames(${code}F${r.i}, currency)[s${r.i}]`);
      ownVars.push(`ra${r.i}`);
    }
  }
  const totalsAt = fields.length + 1;
  if (T) fields.push(`'t'`, 'totalsField');
  // The related sets' floors (relate): with one above the cutoff a member's novelty needs no ZSCORE.
  // The field is named after the relations it holds ("z" + their codes), so a plan with other
  // relations never reads a floor that was another set's.
  const floorsAt = fields.length + 1;
  const floors = p.relations.map((_, j) => `z${j + 1}`);
  const floorFmt = `'<${floors.map(() => 'i7').join('')}'`;
  const floorField = `'z${p.relations.map((rel) => KIND_CODE[rel.relation]).join('')}'`;
  if (L > 0) fields.push(floorField);
  w(`    local got = redis.call('HMGET', key, ${fields.join(', ')})`);
  w(`    local vs, vb, vu, vc = got[1], got[2], got[3], got[4]`);
  const first = A > 0 ? 6 : 5;
  if (A > 0) w(`    local vC = got[5]`);
  if (ownVars.length > 0) w(`    local ${ownVars.join(', ')} = ${ownVars.map((_, j) => `got[${j + first}]`).join(', ')}`);
  if (T) w(`    local tv, tA = got[${totalsAt}], got[${totalsAt + 1}]`);
  if (L > 0) w(`    local vz = got[${floorsAt}]`);
  const maskZeros = R.flatMap((r) => (r.bytes <= 4 ? ['0'] : ['0', '0']));
  w(`    local isNew, newest, first, renewed, ncur = true, t, t, received, 0`);
  if (R.length > 0) w(`    local ${R.map((r) => `l${r.i}, h${r.i}`).join(', ')} = ${R.map(() => '0, 0').join(', ')}`);
  w(`    if vs then`);
  w(`      local layout`);
  w(`      newest, first, renewed, layout, ncur${R.length ? `, ${masks}` : ''} = unpackStruct(${stateFmt}, vs)`);
  w(`      if layout == ${layoutOf(p)} then`);
  w(`        isNew = false`);
  w(`      else`);
  w(`        dropLayout(key)`);
  w(`        newest, first, renewed, ncur = t, t, received, 0`);
  if (R.length > 0) w(`        ${masks} = ${maskZeros.join(', ')}`);
  w(`        vc = false`);
  if (A > 0) w(`        vC = false`);
  if (ownVars.length > 0) w(`        ${ownVars.join(', ')} = ${ownVars.map(() => 'false').join(', ')}`);
  if (T) w(`        tv, tA = false, false`);
  if (L > 0) w(`        vz = false`);
  w(`      end`);
  w(`    end`);
  w(`    local kept = vc and true or false`);
  // Own bucket values at each ring (nil: the event's bucket is not in the ring or holds nothing).
  const ownDecl = R.flatMap((r) => [...(C > 0 ? [`oc${r.i}`] : []), ...(r.amounts ? [`oa${r.i}`] : [])]);
  if (ownDecl.length > 0) w(`    local ${ownDecl.join(', ')}`);
  w(`    local flags, pFirst, pLast, pTrusted`);
  // The write (HSET) comes after the reads, so a scan can set the running totals it read.
  w(`    local hs, renew = {}, false`);
  if (T) {
    w(`    local tok, av = false, false`);
    w(`    local ${[...T.tc, ...T.taWithHeads].join(', ')} = ${[...T.tc, ...T.taWithHeads].map(() => '0').join(', ')}`);
  }
  w(`    if given == nil then`);
  w(`      local old = newest`);
  w(`      if t > newest then newest = t end`);
  w(`      renew = isNew or received - renewed >= RENEW_EVERY or received < renewed`);
  if (T) {
    // Totals as of the entity's previous newest time; each TTL renewal scans and sets them afresh.
    w(`      tok = isNew`);
    if (T.tc.length > 0) {
      w(`      if not isNew and not renew and tv and tv ~= '' then`);
      w(`        local tn`);
      w(`        tn, ${T.tc.join(', ')} = unpackStruct(${T.tFmt}, tv)`);
      w(`        tok = tn == old`);
      w(`      end`);
    } else {
      w(`      tok = true`);
    }
    if (T.amounts.length > 0) {
      // A currency with no amount field yet starts from zero at the newest buckets.
      w(`      av = not kept`);
      w(`      if av then`);
      for (const g of T.amounts) w(`        H${g.r.i} = floor(newest / ${g.r.bucketMs})`);
      w(`      elseif not renew and tA and tA ~= '' then`);
      w(`        ${T.taWithHeads.join(', ')} = unpackStruct(${T.TFmt}, tA)`);
      w(`        av = true`);
      w(`      end`);
    } else {
      w(`      av = true`);
    }
  }
  if (R.length > 0) {
    if (T) w(`      local need, NK, NI = {}, {}, {}`);
    w(`      local drop`);
    w(`      if not isNew then`);
    for (const r of R) {
      const g = T?.counts.find((x) => x.r === r);
      if (!g) {
        w(`        l${r.i}, h${r.i}, drop = trim(drop, l${r.i}, h${r.i}, floor(old / ${r.bucketMs}), floor(newest / ${r.bucketMs}), ${r.slots}, ${code}F${r.i})`);
        continue;
      }
      // A ring with count totals: the buckets leaving it are read (to subtract) before they go.
      w(`        local cd${r.i}`);
      w(`        l${r.i}, h${r.i}, cd${r.i} = trim(nil, l${r.i}, h${r.i}, floor(old / ${r.bucketMs}), floor(newest / ${r.bucketMs}), ${r.slots}, ${code}F${r.i})`);
      w(`        if cd${r.i} then`);
      w(`          drop = drop or {}`);
      // A head that moved a whole ring on leaves nothing: the totals are zero without reading.
      w(`          local all = floor(newest / ${r.bucketMs}) - floor(old / ${r.bucketMs}) >= ${r.slots}`);
      w(`          if all then ${g.ks.map((k) => `tc${r.i}_${k}`).join(', ')} = ${g.ks.map(() => '0').join(', ')} end`);
      w(`          for j = 1, #cd${r.i} do`);
      w(`            drop[#drop + 1] = cd${r.i}[j]`);
      w(`            if tok and not all then need[#need + 1] = cd${r.i}[j]; NK[#need] = ${r.i} end`);
      w(`          end`);
      w(`        end`);
    }
    w(`      end`);
    if (T && T.amounts.length > 0) {
      // The currency's amount totals catch up: buckets that left its rings since they were valid.
      w(`      if av and kept then`);
      for (const g of T.amounts) {
        const n = g.r.slots;
        const ta = g.ks.map((k) => `ta${g.r.i}_${k}`);
        w(`        local hd = floor(newest / ${g.r.bucketMs})`);
        w(`        if hd - H${g.r.i} >= ${n} then`);
        w(`          ${ta.join(', ')} = ${ta.map(() => '0').join(', ')}`);
        w(`        else`);
        w(`          local names = amountNames(${code}F${g.r.i}, currency)`);
        w(`          for idx = H${g.r.i} - ${n} + 1, hd - ${n} do need[#need + 1] = names[idx % ${n}]; NK[#need] = ${-g.r.i}; NI[#need] = idx end`);
        w(`        end`);
        w(`        H${g.r.i} = hd`);
      }
      w(`      end`);
    }
    if (T) {
      w(`      if #need > 0 then`);
      w(`        local vals = redis.call('HMGET', key, unpack(need))`);
      w(`        for j = 1, #need do`);
      w(`          local raw, g = vals[j], NK[j]`);
      w(`          if raw then`);
      let kw = 'if';
      for (const g of T.counts) {
        const v = p.counts.map((_, k) => `v${k + 1}`);
        w(`            ${kw} g == ${g.r.i} then`);
        w(`              local ${v.join(', ')} = unpackStruct(${countFmt}, raw)`);
        for (const k of g.ks) w(`              tc${g.r.i}_${k} = tc${g.r.i}_${k} - v${k}`);
        kw = 'elseif';
      }
      for (const g of T.amounts) {
        const v = p.amounts.map((_, k) => `v${k + 1}`);
        w(`            ${kw} g == ${-g.r.i} then`);
        w(`              local at, ${v.join(', ')} = unpackStruct(${amountFmt}, raw)`);
        w(`              if at == NI[j] then`);
        for (const k of g.ks) w(`                ta${g.r.i}_${k} = ta${g.r.i}_${k} - v${k}`);
        w(`              end`);
        kw = 'elseif';
      }
      w(`            end`);
      w(`          end`);
      w(`        end`);
      w(`      end`);
    }
    w(`      if drop then hdel(key, drop) end`);
  }
  w(`      if t < first then first = t end`);
  if (p.pairs) w(`      pFirst, pLast, pTrusted = pairOf(base, dev, newest)`);
  const usesUntrusted = [...p.counts, ...p.amounts].some((m) => m.startsWith('untrusted'));
  if (usesUntrusted) w(`      local untrusted = passwordFree and not (pTrusted and pTrusted > 0)`);
  if (A > 0) {
    w(`      local keeps = kept`);
    w(`      if not keeps then`);
    w(`        if ncur >= currencyCap then ncur, vC = forgetCurrencies(key, newest - ${amountSpan(p)}, ${code}AMOUNT_RINGS, vC) end`);
    w(`        keeps = ncur < currencyCap`);
    w(`      end`);
  }
  if (A > 0) w(`      local wrote = false`);
  for (const r of R) {
    w(`      if o${r.i} > floor(newest / ${r.bucketMs}) - ${r.slots} then`);
    w(`        local live = isLive(l${r.i}, h${r.i}, s${r.i})`);
    w(`        l${r.i}, h${r.i} = setLive(l${r.i}, h${r.i}, s${r.i})`);
    if (C > 0) {
      const x = cs('x');
      w(`        local ${x.join(', ')} = ${x.map(() => '0').join(', ')}`);
      w(`        if live and rc${r.i} then ${x.join(', ')} = unpackStruct(${countFmt}, rc${r.i}) end`);
      p.counts.forEach((m, k) => {
        if (contribution(m) !== '0') w(`        x${k + 1} = x${k + 1} + ${contribution(m)}`);
      });
      for (const k of T?.counts.find((g) => g.r === r)?.ks ?? []) {
        if (contribution(p.counts[k - 1]!) !== '0') w(`        tc${r.i}_${k} = tc${r.i}_${k} + ${contribution(p.counts[k - 1]!)}`);
      }
      w(`        oc${r.i} = { ${x.join(', ')} }`);
      w(`        hs[#hs + 1] = ${code}F${r.i}[s${r.i}]`);
      w(`        hs[#hs + 1] = pack(${countFmt}, ${x.join(', ')})`);
    }
    if (r.amounts) {
      const y = as('y');
      w(`        if keeps then`);
      w(`          wrote = true`);
      w(`          local at, ${y.join(', ')} = -1, ${y.map(() => '0').join(', ')}`);
      w(`          if ra${r.i} then at, ${y.join(', ')} = unpackStruct(${amountFmt}, ra${r.i}) end`);
      w(`          if at ~= o${r.i} then ${y.join(', ')} = ${y.map(() => '0').join(', ')} end`);
      const tks = T?.amounts.find((g) => g.r === r)?.ks ?? [];
      for (const k of tks) w(`          ta${r.i}_${k} = ta${r.i}_${k} - y${k}`);
      p.amounts.forEach((m, k) => {
        if (contribution(m) !== '0') w(`          y${k + 1} = sat(y${k + 1}, ${contribution(m)})`);
      });
      for (const k of tks) w(`          ta${r.i}_${k} = ta${r.i}_${k} + y${k}`);
      w(`          oa${r.i} = { ${y.join(', ')} }`);
      w(`          hs[#hs + 1] = amountNames(${code}F${r.i}, currency)[s${r.i}]`);
      w(`          hs[#hs + 1] = pack(${amountFmt}, o${r.i}, ${y.join(', ')})`);
      w(`        end`);
    }
    w(`      end`);
  }
  if (A > 0) {
    w(`      if wrote then`);
    w(`        local last = vc and unpackStruct('<i7', vc)`);
    w(`        if not last then`);
    w(`          ncur = ncur + 1`);
    w(`          hs[#hs + 1] = 'C'`);
    w(`          hs[#hs + 1] = (vC or '') .. currency`);
    w(`        end`);
    w(`        if not last or t > last then`);
    w(`          hs[#hs + 1] = currencyField`);
    w(`          hs[#hs + 1] = pack('<i7', t)`);
    w(`        end`);
    w(`        kept = true`);
    w(`      end`);
  }
  w(`      if renew then renewed = received end`);
  w(`      hs[#hs + 1] = 's'`);
  w(`      hs[#hs + 1] = pack(${stateFmt}, newest, first, renewed, ${layoutOf(p)}, ncur${R.length ? `, ${packedMasks}` : ''})`);
  if (L > 0) {
    w(`      local ${floors.join(', ')} = ${floors.map(() => 'UNKNOWN').join(', ')}`);
    w(`      if vz and #vz == ${7 * L} then ${floors.join(', ')} = unpackStruct(${floorFmt}, vz) end`);
  }
  const relFlags = p.relations.map((rel, j) => {
    w(`      local n${j + 1}, g${j + 1} = relate(base .. 'd${KIND_CODE[rel.relation]}', M${j + 1}, newest - ${rel.retentionMs}, ${p.ttlMs}, renew, z${j + 1})`);
    return `n${j + 1}`;
  });
  if (L > 0) {
    w(`      if ${floors.map((z, j) => `g${j + 1} ~= ${z}`).join(' or ')} then`);
    w(`        hs[#hs + 1] = ${floorField}`);
    w(`        hs[#hs + 1] = pack(${floorFmt}, ${floors.map((_, j) => `g${j + 1}`).join(', ')})`);
    w(`      end`);
  }
  w(`      flags = ${['(isNew and \'1\' or \'0\')', ...relFlags].join(' .. ')}`);
  w(`    else`);
  // A retry: the buckets this event landed in, as they are now.
  w(`      flags = given`);
  if (p.pairs) w(`      pFirst, pLast, pTrusted = pairOf(base, dev, newest)`);
  for (const r of R) {
    w(`      if o${r.i} > floor(newest / ${r.bucketMs}) - ${r.slots} and isLive(l${r.i}, h${r.i}, s${r.i}) then`);
    if (C > 0) w(`        if rc${r.i} then oc${r.i} = { unpackStruct(${countFmt}, rc${r.i}) } end`);
    if (r.amounts) {
      const y = as('y');
      w(`        local at, ${y.join(', ')} = -1, ${y.map(() => '0').join(', ')}`);
      w(`        if ra${r.i} then at, ${y.join(', ')} = unpackStruct(${amountFmt}, ra${r.i}) end`);
      w(`        if at ~= o${r.i} then ${y.join(', ')} = ${y.map(() => '0').join(', ')} end`);
      w(`        oa${r.i} = { ${y.join(', ')} }`);
    }
    w(`      end`);
  }
  w(`    end`);

  w(`    local bound, unbound = tonumber(vb), tonumber(vu)`);
  w(`    out[#out + 1] = first`);
  w(`    out[#out + 1] = flags`);
  w(`    out[#out + 1] = (bound and (not unbound or unbound < bound)) and bound or 0`);
  w(`    out[#out + 1] = newest`);
  // Window reads: every live bucket from the one holding t - W up to the newest, in one HMGET (or the
  // running totals); each sum goes out as sumReply (text from 2^52 on: ioredis decodes 2^53 - 1 as 2^53).
  if (p.reads.length > 0) {
    if (p.reads.some((r) => r.metric.startsWith('untrusted'))) w(`    local untrusted = passwordFree and not (pTrusted and pTrusted > 0)`);
    for (const r of R) w(`    local hd${r.i} = floor(newest / ${r.bucketMs})`);
    // Fast path: every read on its own ring (the ring still holds t - W, as for any event not very
    // late). Reads of one ring and kind (counts or amounts) share one pass over its live buckets,
    // each bucket unpacked once, one HMGET for all.
    const groups = new Map<string, { r: (typeof R)[number]; amount: boolean; reads: { q: number; ms: number; k: number; metric: Metric }[] }>();
    p.reads.forEach((rd, q) => {
      const amount = isAmount(rd.metric);
      const r = R[p.resolutions.findIndex((x) => x.bucketMs === rd.window.bucketMs)]!;
      const key = `${r.i}${amount ? 'a' : 'c'}`;
      const group = groups.get(key) ?? { r, amount, reads: [] };
      group.reads.push({ q, ms: rd.window.ms, k: amount ? p.amounts.indexOf(rd.metric as never) + 1 : p.counts.indexOf(rd.metric as never) + 1, metric: rd.metric });
      groups.set(key, group);
    });
    const G = [...groups.values()].map((g, j) => ({ ...g, j, longest: Math.max(...g.reads.map((x) => x.ms)) }));
    const fast = G.map((g) => `floor((t - ${g.longest}) / ${g.r.bucketMs}) > hd${g.r.i} - ${g.r.slots}`).join(' and ');
    if (T) {
      // The event is in the newest bucket of every ring read (what \`fast\` says of whole-ring windows): the totals.
      w(`    if tok and av and ${fast} then`);
      p.reads.forEach((rd, q) => {
        const r = R.find((x) => x.bucketMs === rd.window.bucketMs)!;
        if (isAmount(rd.metric)) {
          w(`      local sum${q} = ta${r.i}_${p.amounts.indexOf(rd.metric as never) + 1}`);
          w(`      if not kept then sum${q} = sat(sum${q}, ${contribution(rd.metric)}) end`);
          w(`      if sum${q} > MAX then sum${q} = MAX end`);
        } else {
          w(`      local sum${q} = tc${r.i}_${p.counts.indexOf(rd.metric as never) + 1}`);
        }
        w(`      out[#out + 1] = sumReply(sum${q})`);
      });
      w(`    elseif ${fast} then`);
    } else {
      w(`    if ${fast} then`);
    }
    w(`      local need, IDX = {}, {}`);
    for (const g of G) {
      const names = g.amount ? `amountNames(${code}F${g.r.i}, currency)` : `${code}F${g.r.i}`;
      w(`      local from${g.j} = #need + 1`);
      w(`      collectIdx(need, IDX, floor((t - ${g.longest}) / ${g.r.bucketMs}), hd${g.r.i}, o${g.r.i}, ${g.r.slots}, l${g.r.i}, h${g.r.i}, ${names})`);
      w(`      local to${g.j} = #need`);
    }
    w(`      local vals = #need > 0 and redis.call('HMGET', key, unpack(need)) or need`);
    for (const g of G) {
      const sums = g.reads.map((x) => `sum${x.q}`);
      w(`      local ${sums.join(', ')} = ${sums.map(() => '0').join(', ')}`);
      for (const x of g.reads) if (x.ms !== g.longest) w(`      local lo${x.q} = floor((t - ${x.ms}) / ${g.r.bucketMs})`);
      const vars = g.amount ? p.amounts.map((_, k) => `v${k + 1}`) : p.counts.map((_, k) => `v${k + 1}`);
      w(`      for j = from${g.j}, to${g.j} do`);
      w(`        local raw = vals[j]`);
      w(`        if raw then`);
      if (g.amount) {
        w(`          local at, ${vars.join(', ')} = unpackStruct(${amountFmt}, raw)`);
        w(`          local idx = IDX[j]`);
        w(`          if at == idx then`);
        for (const x of g.reads) {
          w(x.ms === g.longest ? `            sum${x.q} = sat(sum${x.q}, v${x.k})` : `            if idx >= lo${x.q} then sum${x.q} = sat(sum${x.q}, v${x.k}) end`);
        }
        w(`          end`);
      } else {
        w(`          local ${vars.join(', ')} = unpackStruct(${countFmt}, raw)`);
        if (g.reads.some((x) => x.ms !== g.longest)) w(`          local idx = IDX[j]`);
        for (const x of g.reads) {
          w(x.ms === g.longest ? `          sum${x.q} = sum${x.q} + v${x.k}` : `          if idx >= lo${x.q} then sum${x.q} = sum${x.q} + v${x.k} end`);
        }
      }
      w(`        end`);
      w(`      end`);
      // The event's own bucket, as written above (always within the window here).
      const ownValue = g.amount ? `oa${g.r.i}` : `oc${g.r.i}`;
      w(`      if ${ownValue} and isLive(l${g.r.i}, h${g.r.i}, s${g.r.i}) then`);
      for (const x of g.reads) w(`        sum${x.q} = sat(sum${x.q}, ${ownValue}[${x.k}])`);
      w(`      end`);
      // The scan read whole rings: their sums are the running totals (set afresh below).
      if (T) {
        for (const x of g.reads) w(`      ${g.amount ? 'ta' : 'tc'}${g.r.i}_${x.k} = sum${x.q}`);
        if (g.amount) w(`      H${g.r.i} = hd${g.r.i}`);
      }
      if (g.amount) {
        w(`      if not kept then`);
        for (const x of g.reads) w(`        sum${x.q} = sat(sum${x.q}, ${contribution(x.metric)})`);
        w(`      end`);
      }
    }
    p.reads.forEach((_, q) => w(`      out[#out + 1] = sumReply(sum${q})`));
    if (T) w(`      tok, av = true, true`);
    w(`    else`);
    // A late event: each read from the ring that still holds t - W (or the longest), as memory.ts's readResolution.
    const fallbackStart = out.length;
    w(`    local need, pos, RI, LO, LST, IX = {}, {}, {}, {}, {}, {}`);
    p.reads.forEach((rd, q) => {
      const amountRead = isAmount(rd.metric);
      const own = p.resolutions.findIndex((x) => x.bucketMs === rd.window.bucketMs);
      const candidates = R.slice(own).filter((r) => !amountRead || r.amounts);
      w(`    LST[${q}], IX[${q}] = {}, {}`);
      candidates.forEach((r, j) => {
        const covers = `floor((t - ${rd.window.ms}) / ${r.bucketMs}) > hd${r.i} - ${r.slots}`;
        const head = j === 0 ? (candidates.length === 1 ? '    do' : `    if ${covers} then`) : j === candidates.length - 1 ? '    else' : `    elseif ${covers} then`;
        w(head);
        w(`      RI[${q}], LO[${q}] = ${r.i}, math.max(floor((t - ${rd.window.ms}) / ${r.bucketMs}), hd${r.i} - ${r.slots} + 1)`);
        const names = amountRead ? `amountNames(${code}F${r.i}, currency)` : `${code}F${r.i}`;
        w(`      collect(need, pos, LST[${q}], IX[${q}], LO[${q}], hd${r.i}, o${r.i}, ${r.slots}, l${r.i}, h${r.i}, ${names})`);
      });
      w(`    end`);
    });
    w(`    local vals = #need > 0 and redis.call('HMGET', key, unpack(need)) or need`);
    p.reads.forEach((rd, q) => {
      const amountRead = isAmount(rd.metric);
      const k = amountRead ? p.amounts.indexOf(rd.metric as never) + 1 : p.counts.indexOf(rd.metric as never) + 1;
      const own = p.resolutions.findIndex((x) => x.bucketMs === rd.window.bucketMs);
      const candidates = R.slice(own).filter((r) => !amountRead || r.amounts);
      w(`    do`);
      w(amountRead ? `    local sum = sumAmounts(vals, LST[${q}], IX[${q}], ${amountFmt}, ${k})` : `    local sum = sumCounts(vals, LST[${q}], ${countFmt}, ${k})`);
      w(`    local ri, lo = RI[${q}], LO[${q}]`);
      candidates.forEach((r, j) => {
        w(`    ${j === 0 ? 'if' : 'elseif'} ri == ${r.i} then`);
        const ownValue = amountRead ? `oa${r.i}` : `oc${r.i}`;
        const hasOwn = amountRead ? r.amounts : C > 0;
        if (hasOwn) {
          w(`      if ${ownValue} and o${r.i} >= lo and o${r.i} <= hd${r.i} and isLive(l${r.i}, h${r.i}, s${r.i}) then sum = sat(sum, ${ownValue}[${k}]) end`);
        }
        const missed = `o${r.i} <= hd${r.i} - ${r.slots}${amountRead ? ' or not kept' : ''}`;
        w(`      if ${missed} then sum = sat(sum, ${contribution(rd.metric)}) end`);
      });
      w(`    end`);
      w(`    out[#out + 1] = sumReply(sum)`);
      w(`    end`);
    });
    for (let i = fallbackStart; i < out.length; i++) out[i] = `  ${out[i]}`;
    w(`    end`);
  }
  p.relations.forEach((rel) => {
    for (const win of rel.windows) w(`    out[#out + 1] = redis.call('ZCOUNT', base .. 'd${KIND_CODE[rel.relation]}', '(' .. int(t - ${win.ms}), '+inf')`);
  });
  w(`    if given == nil then`);
  if (T) {
    // Totals are written while exact (below 2^53 - 1), else "" so the next event scans.
    if (T.tc.length > 0) w(`      hs[#hs + 1] = 't'`);
    if (T.tc.length > 0) w(`      hs[#hs + 1] = (tok and ${T.tc.map((x) => `${x} < MAX`).join(' and ')}) and pack(${T.tFmt}, newest, ${T.tc.join(', ')}) or ''`);
    if (T.ta.length > 0) {
      w(`      if kept then`);
      w(`        hs[#hs + 1] = totalsField`);
      w(`        hs[#hs + 1] = (av and ${T.ta.map((x) => `${x} < MAX`).join(' and ')}) and pack(${T.TFmt}, ${T.taWithHeads.join(', ')}) or ''`);
      w(`      end`);
    }
  }
  w(`      redis.call('HSET', key, unpack(hs))`);
  w(`      if renew then`);
  w(`        redis.call('PEXPIRE', key, ${p.ttlMs})`);
  // The pairs' key lives as long as the entity (commit sets its TTL only when it adds a pair).
  if (p.pairs) w(`        redis.call('PEXPIRE', base .. 'p', ${p.ttlMs})`);
  w(`      end`);
  w(`    end`);
  if (p.pairs) {
    w(`    if dev ~= '-' then`);
    w(`      out[#out + 1] = pFirst or 0`);
    w(`      out[#out + 1] = pLast or 0`);
    w(`      out[#out + 1] = pTrusted or 0`);
    w(`    end`);
  }
  w(`    return flags`);
  w(`  end`);
  return out.join('\n');
}

/**
 * The committer of one entity kind, for an approved event: approved count and amount into the
 * event's buckets (amounts only in a currency the entity keeps), and the pair with the event's
 * device (first, last, trusted since), as memory.ts's #approve does. Nothing for an entity with no state.
 */
function committer(p: EntityPlan): string {
  const code = KIND_CODE[p.kind];
  const { R, C, countFmt, amountFmt, stateFmt, masks, packedMasks } = layout(p);
  const approvedCount = p.counts.indexOf('approvedCount') + 1;
  const approvedAmount = p.amounts.indexOf('approvedAmount') + 1;
  const buckets = approvedCount > 0 || approvedAmount > 0;
  const out: string[] = [];
  const w = (line: string) => out.push(line);
  w(`  COMMIT['${code}'] = function(key, a, strong)`);
  if (!buckets && !p.pairs) {
    w(`  end`);
    return out.join('\n');
  }
  w(`    local dev = ARGV[a + ${p.relations.length}]`);
  if (!buckets) {
    // Pairs only: the state's newest time bounds the pair retention.
    w(`    if dev == '-' then return end`);
    w(`    local vs = redis.call('HGET', key, 's')`);
    w(`    if not vs then return end`);
    w(`    local newest, _, _, layout = unpackStruct('<i7i7i7I4', vs)`);
    w(`    if layout ~= ${layoutOf(p)} then return dropLayout(key) end`);
    w(`    commitPair(sub(key, 1, -2), dev, newest, ${p.ttlMs}, strong)`);
    w(`  end`);
    return out.join('\n');
  }
  const fields = [`'s'`, 'currencyField'];
  for (const r of R) {
    w(`    local o${r.i} = floor(t / ${r.bucketMs})`);
    w(`    local s${r.i} = o${r.i} % ${r.slots}`);
    fields.push(`${code}F${r.i}[s${r.i}]`);
    if (r.amounts && approvedAmount > 0) fields.push(`amountNames(${code}F${r.i}, currency)[s${r.i}]`);
  }
  w(`    local got = redis.call('HMGET', key, ${fields.join(', ')})`);
  w(`    local vs, vc = got[1], got[2]`);
  w(`    if not vs then return end`);
  if (R.length > 0) w(`    local ${R.map((r) => `l${r.i}, h${r.i}`).join(', ')} = ${R.map(() => '0, 0').join(', ')}`);
  w(`    local newest, first, renewed, layout, ncur${R.length ? `, ${masks}` : ''} = unpackStruct(${stateFmt}, vs)`);
  w(`    if layout ~= ${layoutOf(p)} then return dropLayout(key) end`);
  w(`    local hs = {}`);
  let at = 3;
  for (const r of R) {
    const rc = `got[${at++}]`;
    const ra = r.amounts && approvedAmount > 0 ? `got[${at++}]` : undefined;
    w(`    if o${r.i} > floor(newest / ${r.bucketMs}) - ${r.slots} then`);
    w(`      local live = isLive(l${r.i}, h${r.i}, s${r.i})`);
    w(`      l${r.i}, h${r.i} = setLive(l${r.i}, h${r.i}, s${r.i})`);
    if (C > 0) {
      const x = p.counts.map((_, k) => `x${k + 1}`);
      w(`      local ${x.join(', ')} = ${x.map(() => '0').join(', ')}`);
      w(`      if live and ${rc} then ${x.join(', ')} = unpackStruct(${countFmt}, ${rc}) end`);
      if (approvedCount > 0) w(`      x${approvedCount} = x${approvedCount} + 1`);
      w(`      hs[#hs + 1] = ${code}F${r.i}[s${r.i}]`);
      w(`      hs[#hs + 1] = pack(${countFmt}, ${x.join(', ')})`);
    }
    if (ra) {
      const y = p.amounts.map((_, k) => `y${k + 1}`);
      w(`      if vc then`);
      w(`        local at, ${y.join(', ')} = -1, ${y.map(() => '0').join(', ')}`);
      w(`        if ${ra} then at, ${y.join(', ')} = unpackStruct(${amountFmt}, ${ra}) end`);
      w(`        if at ~= o${r.i} then ${y.join(', ')} = ${y.map(() => '0').join(', ')} end`);
      w(`        y${approvedAmount} = sat(y${approvedAmount}, amount)`);
      w(`        hs[#hs + 1] = amountNames(${code}F${r.i}, currency)[s${r.i}]`);
      w(`        hs[#hs + 1] = pack(${amountFmt}, o${r.i}, ${y.join(', ')})`);
      w(`      end`);
    }
    w(`    end`);
  }
  w(`    hs[#hs + 1] = 's'`);
  w(`    hs[#hs + 1] = pack(${stateFmt}, newest, first, renewed, ${layoutOf(p)}, ncur${R.length ? `, ${packedMasks}` : ''})`);
  w(`    redis.call('HSET', key, unpack(hs))`);
  if (p.pairs) w(`    if dev ~= '-' then commitPair(sub(key, 1, -2), dev, newest, ${p.ttlMs}, strong) end`);
  w(`  end`);
  return out.join('\n');
}
