/**
 * The policy file's shape (YAML or JSON). Structure is checked here; feature names and value types
 * are checked against the feature catalogue in load.ts, where the windows are known.
 */
import * as z from 'zod';
import { DEFAULT_WINDOWS } from '../velocity/windows.js';

const Scalar = z.union([z.number(), z.boolean(), z.string()]);

export const COMPARISONS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'exists'] as const;
export type Comparison = (typeof COMPARISONS)[number];

/**
 * The other side of a numeric comparison: a number, or another feature times a factor (the
 * customer's own baseline, e.g. `gt: { feature: account.approved.amount.dailyAverage.30d, times: 5 }`).
 * Feature and factor are checked by load.ts, which names the rule and field.
 */
export interface FeatureRef {
  readonly feature: string;
  readonly times?: number;
}
/** Checked by hand in load.ts (clearer errors than a union's). */
const Bound = z.unknown();

export const Leaf = z.strictObject({
  feature: z.string().min(1),
  eq: Scalar.optional(),
  ne: Scalar.optional(),
  gt: Bound.optional(),
  gte: Bound.optional(),
  lt: Bound.optional(),
  lte: Bound.optional(),
  in: z.array(Scalar).min(1).optional(),
  notIn: z.array(Scalar).min(1).optional(),
  exists: z.boolean().optional(),
});
export type Leaf = z.infer<typeof Leaf>;

/** A leaf comparison, or all/any/not of conditions. Checked by load.ts, which names the failing path. */
export type Condition = Leaf | { all: Condition[] } | { any: Condition[] } | { not: Condition };

export const Rule = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'use lower-case letters, digits and dashes'),
    description: z.string().optional(),
    /** Checked by load.ts (a recursive shape gets clearer errors walked by hand than from a union). */
    when: z.unknown(),
    /** Added to the score when the rule matches. */
    score: z.number().int().min(0).max(100).optional(),
    /** Holds whatever the score. */
    hold: z.boolean().optional(),
    /** Approves whatever the score, unless a hold rule fires: hold > approve > score (a block list hit is a hold rule). */
    approve: z.boolean().optional(),
    /** Reason shown with the decision; {feature.name} is replaced by the feature's value. */
    message: z.string().min(1).max(300),
    /** shadow: evaluated and logged, never changes a decision. */
    mode: z.enum(['active', 'shadow']).default('active'),
  })
  .refine((r) => r.score !== undefined || r.hold === true || r.approve === true, {
    message: 'a rule needs a score, or hold: true, or approve: true',
    path: ['score'],
  })
  .refine((r) => !(r.hold === true && r.approve === true), { message: 'a rule holds or approves, not both', path: ['approve'] });
export type Rule = z.infer<typeof Rule>;

export const PolicyFile = z.strictObject({
  version: z.union([z.string().min(1), z.number()]).transform(String),
  /** A score at or over this holds. */
  holdAt: z.number().int().min(1).max(100),
  /** window name -> bucket size, e.g. { "10m": "1m", "24h": "1h" } */
  windows: z.record(z.string(), z.string()).default({ ...DEFAULT_WINDOWS }),
  rules: z.array(Rule).min(1),
  /**
   * Features kept by the velocity store though no rule reads them yet (e.g. for a rule about to be
   * switched on: a counter newly read starts empty otherwise). Checked against the catalogue.
   */
  keep: z.array(z.string().min(1)).default([]),
  /** How long related entities' first-seen facts and device pairs are kept, e.g. 7d (at most 30d). */
  deviceRetention: z.string().default('7d'),
});
export type PolicyFile = z.infer<typeof PolicyFile>;
