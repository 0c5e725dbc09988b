/**
 * The Lua scripts, loaded as text (esbuild and vitest both load `.lua` files as strings) and named
 * with their key count, BullMQ-style (record-entities takes three keys per entity). The Redis store defines them once per client (EVALSHA, with
 * ioredis falling back to EVAL on NOSCRIPT).
 */
import claimDecision from './claim-decision-1.lua';
import recordBinding from './record-binding-1.lua';
import recordEntities from './record-entities.lua';

export const SCRIPTS = {
  claimDecision: { lua: claimDecision, keys: 1 },
  /** Three keys per entity, as many entities as the call carries: numberOfKeys is given per call. */
  recordEntities: { lua: recordEntities, keys: undefined },
  recordBinding: { lua: recordBinding, keys: 1 },
} as const;
