/**
 * The Lua scripts, loaded as text (esbuild and vitest both load `.lua` files as strings) and named
 * with their key count, BullMQ-style. The Redis store defines them once per client (EVALSHA, with
 * ioredis falling back to EVAL on NOSCRIPT, e.g. after an empty restart). The velocity engine is a
 * Redis Functions library instead (velocity.lua: FUNCTION LOAD with the store's plans written in,
 * reloaded on "Function not found"), so its plans are parsed once per server, not on every call.
 */
import claimDecision from './claim-decision-1.lua';
import recordBinding from './record-binding-1.lua';
import velocity from './velocity.lua';

/** The velocity engine's Functions library, before the store writes its plans and name in. */
export const VELOCITY_LIBRARY = velocity;

export const SCRIPTS = {
  claimDecision: { lua: claimDecision, keys: 1 },
  recordBinding: { lua: recordBinding, keys: 1 },
} as const;
