/**
 * The simulator: labelled synthetic traffic scored live through `decide` (the replay scorer, one
 * memory store), customers and attackers interleaved in time order by one event queue. Attackers
 * see each decision and react, so the traffic depends on the policy: it cannot be a fixed file.
 * What was sent can still be written out (canonical events and labels) for `replay`.
 */
import type { PaymentEvent } from '../events.js';
import type { Policy } from '../policy/load.js';
import { MinHeap } from '../replay/order.js';
import { type HistorySummary, type Label, type Report, ReportBuilder } from '../replay/report.js';
import { type Outcome, createScorers } from '../replay/scorer.js';
import { type Attack, type Rig, STRATEGIES, type Strategy, TWO_FACTOR_STRATEGIES, createAttack } from './attackers.js';
import { APP_STORE, APP_STORE_TIERS, type Person, type Population, type Wallet, createPopulation, deviceOf, ipOf, localHour } from './population.js';
import { Random } from './random.js';

export interface SimulateOptions {
  readonly policy: { readonly policy: Policy; readonly file: string };
  readonly days: number;
  readonly people: number;
  readonly seed: number;
  /** Days of customer traffic before the reported days: velocity and first sightings settle; not reported, no attacks. */
  readonly warmupDays: number;
  /** Victims per attack strategy. */
  readonly attacks: Readonly<Record<Strategy, number>>;
  /** Mean hours until a victim notices and recovers the Apple ID. */
  readonly noticeHours: number;
  /** Epoch ms of the first simulated day (UTC midnight). */
  readonly start?: number;
  /** Every payment as sent, with its label and segments: for writing the history and labels files. */
  readonly onPayment?: (event: PaymentEvent, label: Label, segments: readonly string[]) => void;
  readonly onProgress?: (done: number, total: number, payments: number) => void;
}

export interface AttackSummary {
  strategy: Strategy;
  victims: number;
  attempts: number;
  held: number;
  /** Fraud money approved (lost), fen. */
  lost: number;
}

export interface SimulationResult {
  readonly report: Report;
  readonly payments: number;
  readonly attacks: AttackSummary[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const DEFAULT_START = Date.UTC(2026, 10, 1);

interface Task {
  readonly clock: number;
  readonly run: () => Promise<void>;
}

export async function simulate(options: SimulateOptions): Promise<SimulationResult> {
  const random = new Random(options.seed);
  const begin = options.start ?? DEFAULT_START;
  const reportFrom = begin + options.warmupDays * DAY;
  const end = reportFrom + options.days * DAY;
  const population = createPopulation(random.fork(1), options.people, begin, options.warmupDays + options.days);
  const [scorer] = await createScorers([options.policy.policy]);
  // Every payment is labelled as it is made; the report builder reads the same map.
  const labels = new Map<string, Label>();
  const segmentsOf = new Map<string, readonly string[]>();
  const builder = new ReportBuilder([options.policy], { labels, segments: segmentsOf, currency: 'CNY' });
  const queue = new MinHeap<Task>();
  const traffic = random.fork(2);
  let serial = 0;
  let payments = 0;
  let fraud = 0;
  let legit = 0;
  let warmup = 0;

  async function pay(event: Omit<PaymentEvent, 'id' | 'kind'>, label: Label, segments: readonly string[]): Promise<Outcome> {
    const full: PaymentEvent = { id: `sim-${(++serial).toString().padStart(8, '0')}`, kind: 'notification', ...event };
    const outcome = await scorer!.payment(full, full.occurredAt);
    payments++;
    options.onPayment?.(full, label, segments);
    if (full.occurredAt >= reportFrom) {
      labels.set(full.id, label);
      segmentsOf.set(full.id, segments);
      if (label === 'fraud') fraud++;
      else legit++;
      builder.add(full, full.occurredAt, [outcome]);
      labels.delete(full.id); // read once: the maps stay small
      segmentsOf.delete(full.id);
    } else warmup++;
    return outcome;
  }

  const schedule = (clock: number, run: () => Promise<void>) => {
    if (clock < end) queue.push({ clock, run });
  };

  for (const person of population.people) scheduleCustomer(person, population, traffic.fork(person.index), begin, schedule, pay);

  const attackRandom = random.fork(3);
  const summaries = scheduleAttacks(options, population, attackRandom, reportFrom, end, schedule, pay);

  let ran = 0;
  while (queue.size > 0) {
    const task = queue.pop()!;
    await task.run();
    if (++ran % 5_000 === 0) options.onProgress?.(task.clock - begin, end - begin, payments);
  }
  await scorer!.close();
  options.onProgress?.(end - begin, end - begin, payments);

  const history: HistorySummary = {
    source: `simulation (seed ${options.seed}, ${options.people} people, ${options.days} days after a ${options.warmupDays}-day warm-up)`,
    records: payments,
    payments,
    bindings: 0,
    duplicates: 0,
    otherLogLines: 0,
    badRecords: 0,
    issues: [],
    late: 0,
    reorderWindowMs: 0,
    warmup,
    warmupMs: options.warmupDays * DAY,
    from: new Date(reportFrom).toISOString(),
    to: new Date(end).toISOString(),
  };
  const report = builder.finish(history, { source: 'simulation', fraud, legit });
  return { report, payments, attacks: summaries };
}

type Pay = (event: Omit<PaymentEvent, 'id' | 'kind'>, label: Label, segments: readonly string[]) => Promise<Outcome>;
type Schedule = (clock: number, run: () => Promise<void>) => void;

/** Pushes `at` into waking hours (08:00-23:59 local), keeping the minute. */
function awake(at: number, random: Random): number {
  const hour = localHour(at);
  return hour < 8 ? at + (8 - hour) * HOUR + random.int(0, 120) * MINUTE : at;
}

function scheduleCustomer(person: Person, population: Population, random: Random, begin: number, schedule: Schedule, pay: Pay): void {
  const at = (when: number, run: (t: number) => Promise<unknown>) => {
    const t = Math.round(when);
    schedule(t, async () => {
      await run(t);
    });
  };
  /** A Poisson process with this mean gap, in waking hours. */
  const loop = (mean: number, run: (t: number) => Promise<unknown>) => {
    const step = async (t: number) => {
      await run(t);
      at(awake(t + random.exp(mean), random), step);
    };
    at(awake(begin + random.exp(mean), random), step);
  };
  const base = (wallet: Wallet, t: number) => ({
    provider: wallet.provider,
    occurredAt: t,
    account: { id: wallet.id, twoFactor: person.twoFactor, createdAt: wallet.createdAt },
    country: 'CN',
  });
  let ipadLastUsed: number | undefined;
  /** The segments a payment from `device` at `t` falls in, besides its kind (README "The simulator"). */
  const deviceSegments = (device: string | undefined, t: number): string[] => {
    const segments: string[] = [];
    if (!person.twoFactor) segments.push('no-2fa');
    if (device === undefined) return segments;
    if (device === person.phones[1] && person.newPhoneAt !== undefined && t - person.newPhoneAt < 7 * DAY) segments.push('new-phone');
    if (device === person.household.sharedDevice) segments.push('family-device');
    if (device === person.ipad) {
      if (ipadLastUsed !== undefined && t - ipadLastUsed > 7 * DAY) segments.push('ipad-idle-7d');
      ipadLastUsed = t;
    }
    return segments;
  };
  const everyday = (t: number, device: string) => {
    const wallet = random.pick(person.wallets);
    const amount = Math.max(100, Math.min(500_000, Math.round(random.logNormal(3_500, 1.0))));
    return pay(
      {
        ...base(wallet, t),
        amount: { minor: amount, currency: 'CNY' },
        merchant: random.pick(population.merchants),
        authMethod: amount < 20_000 && random.chance(0.3) ? 'password_free' : random.weighted([['biometric', 60], ['password', 40]] as const),
        instrument: { id: wallet.agreement!, kind: 'agreement' },
        device: { id: device },
        ip: ipOf(person, t, population, random),
      },
      'legit',
      ['everyday', ...deviceSegments(device, t)],
    );
  };

  // Everyday payments at shops and restaurants: biometric or password mostly, small ones password-free.
  loop(DAY / person.dailyPayments, (t) => everyday(t, deviceOf(person, t, random)));

  const apple = person.appleId;
  const appStore = (t: number, amount: number, kind: 'app-store' | 'gamer' | 'subscription', device: string | undefined = deviceOf(person, t, random)) =>
    pay(
      {
        ...base(apple!.wallet, t),
        amount: { minor: amount, currency: 'CNY' },
        merchant: APP_STORE,
        authMethod: 'password_free',
        linkedAccount: { id: apple!.id, kind: 'apple_id' },
        instrument: { id: apple!.wallet.agreement!, kind: 'agreement' },
        ...(device !== undefined && { device: { id: device }, ip: ipOf(person, t, population, random) }),
      },
      'legit',
      ['app-store', ...(kind === 'app-store' ? [] : [kind]), ...deviceSegments(device, t)],
    );
  const gamerAmount = () => random.weighted([[600, 30], [3_000, 30], [6_800, 20], [12_800, 10], [32_800, 7], [64_800, 3]] as const);

  // An iPad kept in a drawer: taken out every twelve days or so for a purchase or two (App Store
  // through the Apple ID when there is one, else a shop payment): often idle for more than a week.
  if (person.ipad && person.ipadRare) {
    const ipad = person.ipad;
    loop(12 * DAY, async (t) => {
      if (!apple || random.chance(0.4)) return everyday(t, ipad);
      let when = t;
      for (let i = person.gamer ? random.int(1, 4) : random.int(1, 2); i > 0; i--) {
        at(when, (u) => appStore(u, person.gamer ? gamerAmount() : random.pick(APP_STORE_TIERS.slice(0, 5)), person.gamer ? 'gamer' : 'app-store', ipad));
        when += random.int(1, 8) * MINUTE;
      }
    });
  }

  if (!apple) return;
  // Occasional App Store purchases through the Apple ID's password-free agreement.
  loop(8 * DAY, (t) => appStore(t, random.pick(APP_STORE_TIERS.slice(0, 4)), 'app-store'));
  // Gamers buy in bursts on their own devices: a session of 2-6 in-app purchases a few minutes apart, mostly small.
  if (person.gamer) {
    loop(2 * DAY, async (t) => {
      let when = t;
      const device = deviceOf(person, t, random); // one session, one device
      for (let i = random.int(2, 6); i > 0; i--) {
        at(when, (u) => appStore(u, gamerAmount(), 'gamer', device));
        when += random.int(1, 6) * MINUTE;
      }
    });
  }
  // Subscriptions renew every 30 days at 03:xx local time, server-side: no device, no IP.
  for (const [offset, amount] of person.subscriptions) {
    for (let day = begin + offset; ; day += 30 * DAY) {
      const when = day - (day % DAY) + 19 * HOUR + random.int(0, 59) * MINUTE;
      if (!(when < begin + 400 * DAY)) break;
      at(when, (u) => appStore(u, amount, 'subscription', undefined));
      if (when > begin + 120 * DAY) break;
    }
  }
}

function scheduleAttacks(options: SimulateOptions, population: Population, random: Random, from: number, end: number, schedule: Schedule, pay: Pay): AttackSummary[] {
  // Victims: an Apple ID of their own bound to a wallet; without two-factor authentication (with it
  // for the strategies that phish the code too); each attacked once.
  const own = population.people.filter((p) => p.appleId && p.appleId.id === `apple-${p.index}`);
  const pools = { plain: own.filter((p) => !p.twoFactor), twoFactor: own.filter((p) => p.twoFactor) };
  const rigs: Rig[] = Array.from({ length: 3 }, (_, i) => ({ device: `attacker-phone-${i}`, ip: `45.67.${i}.${random.int(1, 254)}` }));
  const summaries: AttackSummary[] = [];
  let serial = 0;
  for (const strategy of STRATEGIES) {
    const summary: AttackSummary = { strategy, victims: 0, attempts: 0, held: 0, lost: 0 };
    summaries.push(summary);
    const pool = TWO_FACTOR_STRATEGIES.has(strategy) ? pools.twoFactor : pools.plain;
    for (let i = 0; i < options.attacks[strategy] && pool.length > 0; i++) {
      // Spreading needs a victim with two wallets when there is one.
      const index = strategy === 'spread' ? Math.max(0, pool.findIndex((p) => p.wallets.length > 1)) : random.int(0, pool.length - 1);
      const victim = pool.splice(index, 1)[0]!;
      const start = from + random.next() * Math.max(end - from - DAY, DAY / 2);
      const noticeAt = start + HOUR + random.exp(options.noticeHours * HOUR);
      const attack = createAttack(strategy, victim, Math.round(start), noticeAt, random.pick(rigs), random.fork(++serial), serial);
      summary.victims++;
      const step = (charge: ReturnType<Attack['next']>) => {
        if (!charge) return;
        schedule(charge.at, async () => {
          const outcome = await pay(
            {
              provider: charge.wallet.provider,
              occurredAt: charge.at,
              account: { id: charge.wallet.id, twoFactor: victim.twoFactor, createdAt: charge.wallet.createdAt },
              amount: { minor: charge.amount, currency: 'CNY' },
              merchant: APP_STORE,
              authMethod: 'password_free',
              linkedAccount: { id: victim.appleId!.id, kind: 'apple_id' },
              instrument: { id: charge.wallet.agreement!, kind: 'agreement' },
              device: { id: attack.device },
              ip: attack.ip,
              country: 'CN',
            },
            'fraud',
            [strategy],
          );
          const held = outcome.decision.decision === 'hold';
          summary.attempts++;
          if (held) summary.held++;
          else summary.lost += charge.amount;
          step(attack.next({ at: charge.at, held }));
        });
      };
      step(attack.next(undefined));
    }
  }
  return summaries;
}
