/**
 * The reference for `npm run bench`: riskhook's velocity store as it was before the velocity engine
 * v2 (issue 9), kept so every bench run measures the shipped store against it side by side.
 *
 * Self-contained on purpose: its scripts are copies (./*.lua), and its contract is today's
 * VelocityStore contract copied here (claim, record, saveDecision), so it compiles and runs whatever
 * lib/velocity becomes. Only the Redis work matters for the comparison (Redis CPU per event); the
 * adapter below turns a canonical PaymentEvent into that work: claim, count and read, store a decision.
 */
import type { Cluster, Redis } from 'ioredis';
import type { PaymentEvent } from '../../lib/events.js';
import type { IdentityHasher } from '../../lib/identity.js';
import claimDecisionLua from './claim-decision-1.lua';
import recordEntitiesLua from './record-entities.lua';

type Kind = 'account' | 'linkedAccount' | 'device' | 'ip' | 'instrument' | 'merchant';

const KIND_CODE: Readonly<Record<Kind, string>> = { account: 'a', linkedAccount: 'l', device: 'd', ip: 'i', instrument: 'c', merchant: 'm' };

/** Which distinct counts each entity kept (lib/velocity/store.ts RELATIONS before issue 9). */
const RELATIONS: Readonly<Record<Kind, readonly Kind[]>> = {
  account: ['device', 'ip', 'instrument', 'linkedAccount'],
  linkedAccount: ['account', 'device'],
  device: ['account', 'linkedAccount'],
  ip: ['account', 'device'],
  instrument: ['account', 'device'],
  merchant: [],
};

export interface ReferenceWindow {
  readonly name: string;
  readonly ms: number;
  readonly bucketMs: number;
}

export interface ReferenceLimits {
  readonly windows: readonly ReferenceWindow[];
  readonly markerTtlMs: number;
  readonly distinctCap: number;
  readonly decisionTtlMs: number;
  readonly claimStaleMs: number;
}

/** The limits the shipped defaults had: 15 min markers, 100 related entities, 72 h decisions. */
export function referenceLimits(windows: readonly ReferenceWindow[]): ReferenceLimits {
  return { windows, markerTtlMs: 15 * 60_000, distinctCap: 100, decisionTtlMs: 72 * 3_600_000, claimStaleMs: 2_000 };
}

interface ReferenceEntity {
  readonly kind: Kind;
  readonly key: string;
  readonly relations: readonly Kind[];
  readonly members: readonly { readonly relation: Kind; readonly member: string }[];
}

export interface ReferenceRequest {
  readonly eventKey: string;
  readonly at: number;
  readonly amountMinor: number;
  readonly currency: string;
  readonly passwordFree: boolean;
  readonly entities: readonly ReferenceEntity[];
}

type ScriptClient = (Redis | Cluster) & {
  refClaimDecision(key: string, now: number, staleMs: number, ttlMs: number): Promise<[string, string?]>;
  refRecordEntities(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<(string | number)[]>;
};

const tag = (e: Pick<ReferenceEntity, 'kind' | 'key'>) => `${KIND_CODE[e.kind]}:${e.key}`;

export class ReferenceVelocityStore {
  readonly #client: ScriptClient;
  readonly #limits: ReferenceLimits;
  readonly #fixedArgs: (string | number)[];
  readonly #cluster: boolean;

  constructor(client: Redis | Cluster, limits: ReferenceLimits) {
    if (!('refClaimDecision' in client)) client.defineCommand('refClaimDecision', { lua: claimDecisionLua, numberOfKeys: 1 });
    if (!('refRecordEntities' in client)) client.defineCommand('refRecordEntities', { lua: recordEntitiesLua });
    this.#client = client as ScriptClient;
    this.#cluster = (client as Cluster).isCluster === true;
    this.#limits = limits;
    const resolutions = [...new Set(limits.windows.map((w) => w.bucketMs))];
    const longest = limits.windows.reduce((max, w) => Math.max(max, w.ms), 0);
    const ttl = limits.windows.reduce((max, w) => Math.max(max, w.ms + w.bucketMs), 0) + 86_400_000;
    this.#fixedArgs = [
      ttl,
      limits.markerTtlMs,
      limits.distinctCap,
      longest,
      resolutions.join(','),
      limits.windows.length,
      ...limits.windows.flatMap((w) => [w.ms, w.bucketMs, resolutions.indexOf(w.bucketMs)]),
    ];
  }

  async claim(eventKey: string, now: number): Promise<string> {
    const [state] = await this.#client.refClaimDecision(`rh:{e:${eventKey}}`, now, this.#limits.claimStaleMs, this.#limits.decisionTtlMs);
    return state;
  }

  /** Counts and reads every window of every entity; the raw script reply (the bench reads no feature from it). */
  async record(request: ReferenceRequest): Promise<unknown> {
    const batches = this.#cluster ? request.entities.map((e) => [e]) : [request.entities];
    return Promise.all(batches.map((batch) => this.#recordEntities(request, batch)));
  }

  async saveDecision(eventKey: string, decisionJson: string): Promise<void> {
    await this.#client.set(`rh:{e:${eventKey}}`, decisionJson, 'PX', this.#limits.decisionTtlMs);
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #recordEntities(request: ReferenceRequest, entities: readonly ReferenceEntity[]) {
    const keys = entities.flatMap((e) => [`rh:{${tag(e)}}:v`, `rh:{${tag(e)}}:d`, `rh:{${tag(e)}}:m:${request.eventKey}`]);
    return this.#client.refRecordEntities(
      keys.length,
      ...keys,
      request.at,
      request.amountMinor,
      request.currency,
      request.passwordFree ? '1' : '0',
      ...this.#fixedArgs,
      ...entities.flatMap((e) => [
        e.relations.length,
        ...e.relations.map((r) => KIND_CODE[r]),
        e.members.length,
        ...e.members.map((m) => KIND_CODE[m.relation] + m.member),
      ]),
    );
  }
}

/** The adapter: a canonical event as the reference counted it (at occurredAt, all six entities). */
export function referenceRequest(event: PaymentEvent, hasher: IdentityHasher): ReferenceRequest {
  const raw: Partial<Record<Kind, string>> = {
    account: event.account.id,
    linkedAccount: event.linkedAccount?.id,
    device: event.device?.id,
    ip: event.ip,
    instrument: event.instrument?.id,
    merchant: event.merchant.id,
  };
  const hashed = new Map<Kind, string>();
  for (const [kind, id] of Object.entries(raw) as [Kind, string | undefined][]) if (id !== undefined) hashed.set(kind, hasher.entity(kind, id));
  return {
    eventKey: hasher.event(event.provider, event.id),
    at: event.occurredAt,
    amountMinor: event.amount.minor,
    currency: event.amount.currency,
    passwordFree: event.authMethod === 'password_free',
    entities: [...hashed].map(([kind, key]) => ({
      kind,
      key,
      relations: RELATIONS[kind],
      members: RELATIONS[kind].filter((r) => hashed.has(r)).map((relation) => ({ relation, member: hashed.get(relation)! })),
    })),
  };
}

/**
 * The Redis work of one decision before issue 9: claim the event id, count and read, store the
 * decision (`decisionJson`, as large as a real one). A retry (already claimed) stops after the claim.
 */
export async function referenceDecide(store: ReferenceVelocityStore, event: PaymentEvent, hasher: IdentityHasher, decisionJson: string): Promise<void> {
  const request = referenceRequest(event, hasher);
  const state = await store.claim(request.eventKey, Date.now());
  if (state !== 'claimed' && state !== 'takeover') return;
  await store.record(request);
  await store.saveDecision(request.eventKey, decisionJson);
}
