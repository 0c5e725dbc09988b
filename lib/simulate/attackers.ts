/**
 * Attackers who phished Apple IDs (mostly of accounts without two-factor authentication; `twofa`
 * phishes the code in real time too) and spend through the victim's password-free agreement at
 * the App Store. Each strategy is a small state machine:
 * it says when and what to charge next, and reacts to the decision it got (a hold makes it retry,
 * back off, switch wallet or give up). Some know the default policy's windows and quotas.
 */
import type { Person, Wallet } from './population.js';
import type { Random } from './random.js';

export const STRATEGIES = ['burst', 'drip', 'quota', 'fresh', 'spread', 'twofa'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const STRATEGY_DESCRIPTIONS: Readonly<Record<Strategy, string>> = {
  burst: 'naive burst: up to 8 charges of 648 CNY half a minute apart from a shared attacker phone; gives up after two holds',
  drip: 'slow drip: 328-648 CNY every 11-16 minutes (past the 10-minute burst windows); backs off after each hold, gives up after four',
  quota: 'under the quotas: about 460 CNY a day in two or three charges hours apart (under the 500 CNY no-2FA quota), day after day',
  fresh: 'fresh device and proxy IP per victim, drip pacing; after a hold retries from the same device 30-90 minutes later (counting on the hold having made it a seen device)',
  spread: "spreads one Apple ID's spend over the victim's wallets, alternating to stay under each account's quota",
  twofa: 'a victim with 2FA (code phished in real time): 648 CNY three times a day, hours apart, just under the 2,000 CNY quota, day after day; retries a held charge an hour later',
};

/** Strategies whose victims have two-factor authentication (the others pick victims without it). */
export const TWO_FACTOR_STRATEGIES: ReadonlySet<Strategy> = new Set(['twofa']);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface Charge {
  readonly at: number;
  readonly wallet: Wallet;
  readonly amount: number;
}

/** An attack on one victim. `next` gives the next charge (undefined: the attacker stops). */
export interface Attack {
  readonly strategy: Strategy;
  readonly victim: Person;
  readonly device: string;
  readonly ip: string;
  /** When the victim notices and recovers the Apple ID: nothing goes through after it. */
  readonly noticeAt: number;
  next(previous: { at: number; held: boolean } | undefined): Charge | undefined;
}

export interface Rig {
  readonly device: string;
  readonly ip: string;
}

export function createAttack(strategy: Strategy, victim: Person, start: number, noticeAt: number, rig: Rig, random: Random, serial: number): Attack {
  const apple = victim.appleId!;
  const wallets = victim.wallets;
  let holds = 0;
  let charges = 0;
  let interval = 13 * MINUTE;
  let walletIndex = Math.max(0, wallets.indexOf(apple.wallet));
  let dayStart = start;
  const fresh = strategy === 'fresh';
  const device = fresh ? `attacker-fresh-${serial}` : rig.device;
  const ip = fresh ? `198.51.${(serial >> 8) & 255}.${serial & 255}` : rig.ip;
  const charge = (at: number, amount: number, wallet: Wallet = apple.wallet): Charge | undefined => (at < noticeAt ? { at, wallet, amount } : undefined);

  const plans: Record<Strategy, (previous: { at: number; held: boolean } | undefined) => Charge | undefined> = {
    burst(previous) {
      if (!previous) return charge(start, 64_800);
      if (previous.held && ++holds >= 2) return undefined;
      if (++charges >= 8) return undefined;
      return charge(previous.at + random.int(20, 45) * 1_000, 64_800);
    },
    drip(previous) {
      if (!previous) return charge(start, random.pick([32_800, 64_800]));
      if (previous.held) {
        if (++holds >= 4) return undefined;
        interval = Math.min(interval * 3, 6 * HOUR);
      }
      return charge(previous.at + interval + random.int(0, 3) * MINUTE, random.pick([32_800, 64_800]));
    },
    quota(previous) {
      const amounts = [19_800, 19_800, 6_800];
      if (!previous) return charge(start, amounts[0]!);
      if (previous.held) {
        if (++holds >= 3) return undefined;
        dayStart += DAY + random.int(0, 2) * HOUR;
        charges = 0;
        return charge(Math.max(dayStart, previous.at + 24 * HOUR + MINUTE), amounts[0]!);
      }
      charges++;
      if (charges < amounts.length) return charge(previous.at + random.int(2, 4) * HOUR, amounts[charges]!);
      // Next day: after the first charge of today leaves the 24 h window.
      dayStart += DAY + random.int(5, 60) * MINUTE;
      charges = 0;
      return charge(Math.max(dayStart, previous.at + MINUTE), amounts[0]!);
    },
    fresh(previous) {
      if (!previous) return charge(start, 64_800);
      if (previous.held) {
        if (++holds >= 4) return undefined;
        return charge(previous.at + random.int(30, 90) * MINUTE, 64_800);
      }
      return charge(previous.at + random.int(11, 16) * MINUTE, 64_800);
    },
    twofa(previous) {
      if (!previous) return charge(start, 64_800);
      if (previous.held) {
        if (++holds >= 4) return undefined;
        // Retry once an hour later; after a second hold in a row, wait for the next day.
        if (holds % 2 === 1) return charge(previous.at + random.int(50, 70) * MINUTE, 64_800);
        dayStart += DAY + random.int(0, 2) * HOUR;
        charges = 0;
        return charge(Math.max(dayStart, previous.at + 24 * HOUR + MINUTE), 64_800);
      }
      if (++charges < 3) return charge(previous.at + random.int(2, 4) * HOUR, 64_800);
      dayStart += DAY + random.int(5, 60) * MINUTE;
      charges = 0;
      return charge(Math.max(dayStart, previous.at + MINUTE), 64_800);
    },
    spread(previous) {
      if (!previous) return charge(start, 64_800, wallets[walletIndex]);
      if (previous.held && ++holds >= 4) return undefined;
      walletIndex = (walletIndex + 1) % wallets.length;
      return charge(previous.at + random.int(11, 16) * MINUTE, 64_800, wallets[walletIndex]);
    },
  };
  return { strategy, victim, device, ip, noticeAt, next: plans[strategy] };
}

/** "burst=4,drip=4" -> victims per strategy; "all=N" for every strategy. */
export function parseAttacks(text: string): Record<Strategy, number> {
  const plan = Object.fromEntries(STRATEGIES.map((s) => [s, 0])) as Record<Strategy, number>;
  if (text.trim() === '' || text === 'none') return plan;
  for (const part of text.split(',')) {
    const [name, count] = part.split('=').map((s) => s.trim());
    const n = Number(count);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`--attacks: "${part}": expected strategy=victims, e.g. burst=4`);
    if (name === 'all') for (const s of STRATEGIES) plan[s] = n;
    else if ((STRATEGIES as readonly string[]).includes(name!)) plan[name as Strategy] = n;
    else throw new RangeError(`--attacks: unknown strategy "${name}" (known: ${STRATEGIES.join(', ')}, all)`);
  }
  return plan;
}
