/**
 * The simulated customers (README "Backtesting rules" describes the model): households sharing a
 * home network and sometimes a family iPad; each person with one or two wallets (Alipay, WeChat
 * Pay), often an Apple ID bound to a wallet for password-free App Store charges, a phone (some get
 * a new one during the run), maybe an iPad; mobile traffic behind a carrier NAT shared with
 * strangers; gamers who buy in bursts; subscriptions; everyday payments. Some have two-factor
 * authentication, some do not.
 */
import type { Random } from './random.js';

export interface Wallet {
  readonly id: string;
  readonly provider: 'alipay' | 'wechatpay';
  readonly createdAt: number;
  /** The password-free agreement an Apple ID charges through, when one is bound. */
  readonly agreement?: string;
}

export interface Person {
  readonly index: number;
  readonly household: Household;
  readonly wallets: readonly Wallet[];
  /** The Apple ID (linked account) and the wallet it charges, if the person has one bound. */
  readonly appleId?: { readonly id: string; readonly wallet: Wallet };
  readonly twoFactor: boolean;
  /** Phones in the order used: a second one from `newPhoneAt` on. */
  readonly phones: readonly string[];
  readonly newPhoneAt?: number;
  readonly ipad?: string;
  /** The iPad lies in a drawer: used about every twelve days (often idle for more than a week), not day to day. */
  readonly ipadRare?: boolean;
  readonly gamer: boolean;
  /** Everyday payments per day (mean). */
  readonly dailyPayments: number;
  /** Monthly subscriptions charged to the Apple ID: [day offset in ms, amount fen]. */
  readonly subscriptions: ReadonlyArray<readonly [number, number]>;
}

export interface Household {
  readonly index: number;
  readonly homeIp: string;
  /** A family iPad several members pay from. */
  readonly sharedDevice?: string;
  readonly members: Person[];
}

export interface Population {
  readonly people: readonly Person[];
  readonly households: readonly Household[];
  readonly merchants: readonly { readonly id: string; readonly category: string }[];
  /** Carrier-grade NAT addresses: mobile traffic of many unrelated people leaves through few IPs. */
  readonly carrierIps: readonly string[];
}

const DAY = 86_400_000;
export const APP_STORE = { id: 'apple-app-store', category: '5818' } as const;
/** App Store price tiers in fen (6, 30, 68, 128, 198, 328, 648 CNY). */
export const APP_STORE_TIERS = [600, 3_000, 6_800, 12_800, 19_800, 32_800, 64_800] as const;

export function createPopulation(random: Random, people: number, start: number, days: number): Population {
  const merchants = Array.from({ length: Math.max(50, Math.round(people / 8)) }, (_, i) => ({
    id: `merchant-${i}`,
    category: random.pick(['5411', '5812', '5814', '5499', '4121', '5999', '5311', '5732']),
  }));
  const carrierIps = Array.from({ length: Math.max(8, Math.round(people / 25)) }, (_, i) => `100.64.${i >> 8}.${i & 255}`);
  const households: Household[] = [];
  const all: Person[] = [];
  while (all.length < people) {
    const h = households.length;
    const size = Math.min(random.weighted([[1, 30], [2, 30], [3, 25], [4, 15]] as const), people - all.length);
    const household: Household = {
      index: h,
      homeIp: `203.0.${(h >> 8) & 255}.${h & 255}`,
      ...(size > 1 && random.chance(0.3) && { sharedDevice: `ipad-family-${h}` }),
      members: [],
    };
    households.push(household);
    for (let m = 0; m < size; m++) {
      const index = all.length;
      const walletCount = random.chance(0.35) ? 2 : 1;
      const first = random.chance(0.6) ? 'alipay' : 'wechatpay';
      const wallets: Wallet[] = Array.from({ length: walletCount }, (_, w) => ({
        id: `wallet-${index}-${w}`,
        provider: w === 0 ? first : first === 'alipay' ? 'wechatpay' : 'alipay',
        createdAt: start - random.int(30, 3_000) * DAY,
        agreement: `agreement-${index}-${w}`,
      }));
      // Family sharing: a child may use a parent's Apple ID (one Apple ID, several wallets).
      const parent = household.members.find((p) => p.appleId);
      const sharesParent = m >= 2 && parent !== undefined && random.chance(0.4);
      const hasAppleId = sharesParent || random.chance(0.7);
      const appleWallet = random.pick(wallets);
      const person: Person = {
        index,
        household,
        wallets,
        ...(hasAppleId && { appleId: { id: sharesParent ? parent.appleId!.id : `apple-${index}`, wallet: appleWallet } }),
        twoFactor: random.chance(0.55),
        phones: [`phone-${index}-a`, `phone-${index}-b`],
        ...(random.chance(0.03 * days / 7) && { newPhoneAt: start + random.next() * days * DAY }),
        ...(random.chance(0.4) && { ipad: `ipad-${index}`, ipadRare: random.chance(0.5) }),
        gamer: random.chance(m >= 2 ? 0.45 : 0.12),
        dailyPayments: random.weighted([[0.5, 25], [1.5, 40], [3, 25], [6, 10]] as const),
        subscriptions: hasAppleId
          ? Array.from({ length: random.int(0, 3) }, () => [random.next() * 28 * DAY, random.pick([600, 1_100, 1_500, 2_500, 6_800])] as const)
          : [],
      };
      household.members.push(person);
      all.push(person);
    }
  }
  return { people: all, households, merchants, carrierIps };
}

/** The device a person pays from at `at`: the current phone mostly, else an iPad or the family one. */
export function deviceOf(person: Person, at: number, random: Random): string {
  const phone = person.newPhoneAt !== undefined && at >= person.newPhoneAt ? person.phones[1]! : person.phones[0]!;
  const r = random.next();
  if (person.ipad && !person.ipadRare && r < 0.2) return person.ipad;
  if (person.household.sharedDevice && r > 0.85) return person.household.sharedDevice;
  return phone;
}

/** Home Wi-Fi (the household's NAT) at night and weekends mostly, else the carrier's NAT. */
export function ipOf(person: Person, at: number, population: Population, random: Random): string {
  const hour = localHour(at);
  const home = hour >= 18 || hour < 8 ? 0.75 : 0.3;
  return random.chance(home) ? person.household.homeIp : random.pick(population.carrierIps);
}

/** The customers' local hour (China Standard Time, UTC+8): when people are awake and at home. */
export function localHour(at: number): number {
  return (new Date(at).getUTCHours() + 8) % 24;
}
