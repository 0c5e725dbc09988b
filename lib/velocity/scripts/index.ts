/**
 * The Lua scripts, loaded as text (esbuild and vitest both load `.lua` files as strings) and named
 * with their key count, BullMQ-style (velocity takes a marker and one key per entity). The Redis
 * store defines them once per client (EVALSHA, with ioredis falling back to EVAL on NOSCRIPT, e.g.
 * after an empty restart).
 */
import claimDecision from './claim-decision-1.lua';
import recordBinding from './record-binding-1.lua';
import velocity from './velocity.lua';

export const SCRIPTS = {
  claimDecision: { lua: claimDecision, keys: 1 },
  /** A marker and one key per entity: numberOfKeys is given per call. */
  velocity: { lua: velocity, keys: undefined },
  recordBinding: { lua: recordBinding, keys: 1 },
} as const;
