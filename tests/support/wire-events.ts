/**
 * Generic-adapter (v1) events for the load and fault tests that send many of them through the
 * handler: every entity kind present, ids made from a run tag (so runs never share an entity), and
 * how many consecutive events share each entity chosen per test.
 */
import { randomBytes } from 'node:crypto';
import type { EntityKind } from '../../lib/events.js';

export interface Wire {
  id: string;
  kind: 'authorization';
  occurredAt: string;
  amount: { minor: number; currency: 'CNY' };
  account: { id: string; twoFactor: boolean };
  linkedAccount: { id: string; kind: 'apple_id' };
  merchant: { id: string };
  instrument: { id: string; kind: 'agreement' };
  authMethod: 'password_free' | 'password';
  device: { id: string };
  ip: string;
}

/** A run's own tag and IPv6 /64 (fd00 and three random groups), so its entities are new to any store. */
export function newRun(): { run: string; net: string } {
  return { run: randomBytes(4).toString('hex'), net: randomBytes(6).toString('hex').match(/..../g)!.join(':') };
}

type Shared = 'account' | 'linkedAccount' | 'instrument' | 'device' | 'ip';

export interface WireShape {
  /** Consecutive events that share each entity (1: each event its own). */
  readonly shared: Readonly<Record<Shared, number>>;
  /** Merchants the events rotate through: 1 is one hot merchant key every event touches. */
  readonly merchants: number;
  readonly amountMinor: (i: number) => number;
  readonly twoFactor: (i: number) => boolean;
}

/**
 * Entities shared by several consecutive events (which are in flight together), so counters move
 * between deliveries: an account per 10 events, a linked account per 25, a device per 4, an IP per
 * 5, an instrument per 8; every third event says its account has no 2FA.
 */
export const SHARED_ENTITIES: WireShape = {
  shared: { account: 10, linkedAccount: 25, instrument: 8, device: 4, ip: 5 },
  merchants: 1,
  amountMinor: (i) => 100 + i,
  twoFactor: (i) => i % 3 !== 0,
};

/** Event i of a run; every other one password-free. */
export function wireEvent(run: string, net: string, occurredAt: string, i: number, shape: WireShape = SHARED_ENTITIES): Wire {
  const n = (kind: Shared) => Math.floor(i / shape.shared[kind]);
  return {
    id: `evt_${run}_${i}`,
    kind: 'authorization',
    occurredAt,
    amount: { minor: shape.amountMinor(i), currency: 'CNY' },
    account: { id: `acct_${run}_${n('account')}`, twoFactor: shape.twoFactor(i) },
    linkedAccount: { id: `apple_${run}_${n('linkedAccount')}`, kind: 'apple_id' },
    merchant: { id: shape.merchants === 1 ? `merchant_${run}` : `merchant_${run}_${i % shape.merchants}` },
    instrument: { id: `agreement_${run}_${n('instrument')}`, kind: 'agreement' },
    authMethod: i % 2 === 0 ? 'password_free' : 'password',
    device: { id: `dev_${run}_${n('device')}` },
    ip: `fd00:${net}::${n('ip').toString(16)}`,
  };
}

/** The event's raw entity ids, by kind (what the store keys by, once hashed). */
export function rawIds(e: Wire): [EntityKind, string][] {
  return [
    ['account', e.account.id],
    ['linkedAccount', e.linkedAccount.id],
    ['device', e.device.id],
    ['ip', e.ip],
    ['instrument', e.instrument.id],
    ['merchant', e.merchant.id],
  ];
}

export function rawId(e: Wire, kind: EntityKind): string {
  return rawIds(e).find(([k]) => k === kind)![1];
}
