/**
 * The Lua scripts, loaded as text (esbuild and vitest both load `.lua` files as strings) and named
 * with their key count, BullMQ-style. The Redis store defines them once per client (EVALSHA, with
 * ioredis falling back to EVAL on NOSCRIPT).
 */
import claimDecision from './claim-decision-1.lua';
import recordBinding from './record-binding-1.lua';
import recordEntity from './record-entity-3.lua';

export const SCRIPTS = {
  claimDecision: { lua: claimDecision, keys: 1 },
  recordEntity: { lua: recordEntity, keys: 3 },
  recordBinding: { lua: recordBinding, keys: 1 },
} as const;
