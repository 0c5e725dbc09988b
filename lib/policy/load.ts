/**
 * Reads a policy file (YAML or JSON), validates it and compiles its rules into predicates.
 * Every error names the rule id and the field path, e.g.
 *   rule "pf-burst" (rules[2]) when.all[1].feature: unknown feature "acount.count.10m"
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { ENTITY_KINDS, type EntityKind, type FeatureValue } from '../events.js';
import { type StoreNeed, type StorePlan, buildPlan } from '../velocity/plan.js';
import { MAX_WINDOW_MS, type WindowSpec, parseDuration, windowSpecs } from '../velocity/windows.js';
import { type FeatureBuilder, type FeatureInfo, type Features, type NamedReader, compileFeatures, featureCatalogue } from './features.js';
import { COMPARISONS, type Comparison, Leaf, PolicyFile } from './schema.js';

export type Predicate = (features: Features) => boolean;

export interface CompiledRule {
  readonly id: string;
  readonly mode: 'active' | 'shadow';
  readonly score: number;
  readonly hold: boolean;
  readonly approve: boolean;
  readonly message: string;
  readonly test: Predicate;
  /** Feature names the condition reads, kept with a decision when the rule fires. */
  readonly features: readonly string[];
  /** The message with each {feature} replaced by its value ('?' when absent). */
  readonly render: (features: Features) => string;
  /** Copies the features the condition reads (those present) into `into`. */
  readonly copyFeatures: (features: Features, into: Record<string, FeatureValue>) => void;
}

export interface Policy {
  readonly version: string;
  readonly holdAt: number;
  readonly windows: readonly WindowSpec[];
  readonly rules: readonly CompiledRule[];
  /** The features the rules read (conditions and message placeholders): the only ones a decision builds. */
  readonly readers: readonly NamedReader[];
  /** buildFeatures over `readers`, compiled once. */
  readonly features: FeatureBuilder;
  /** Features kept by the store though not read (the file's `keep:`). */
  readonly keep: readonly string[];
  /** What the velocity store keeps and reads for this policy: its read plan. */
  readonly plan: StorePlan;
  /** The entity kinds whose block or allow list membership the rules read (the only lists decide reads). */
  readonly listKinds: readonly EntityKind[];
}

export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`policy ${path}: cannot read it (${(error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true }); // YAML is a superset of JSON: one parser for both
  } catch (error) {
    throw new ConfigError(`policy ${path}: not valid YAML or JSON: ${(error as Error).message}`);
  }
  return compilePolicy(raw, path);
}

export function compilePolicy(raw: unknown, source = 'policy'): Policy {
  const parsed = PolicyFile.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source}: ${parsed.error.issues.map((i) => `${where(raw, i.path)}: ${i.message}`).join('; ')}`);
  }
  const file = parsed.data;
  let windows: WindowSpec[];
  try {
    windows = windowSpecs(file.windows);
  } catch (error) {
    throw new ConfigError(`${source}: windows: ${(error as Error).message}`);
  }
  const catalogue = featureCatalogue(windows);
  const errors: string[] = [];
  const seen = new Set<string>();
  const rules = file.rules.map((rule, index): CompiledRule => {
    const at = `rule "${rule.id}" (rules[${index}])`;
    if (seen.has(rule.id)) errors.push(`${at} id: "${rule.id}" is used by an earlier rule`);
    seen.add(rule.id);
    const features: string[] = [];
    const constants: unknown[] = [];
    const condition = compileCondition(rule.when, 'when', { catalogue, features, constants, errors: (m) => errors.push(`${at} ${m}`) });
    for (const name of rule.message.match(/\{([^}]+)\}/g) ?? []) {
      if (!catalogue.has(name.slice(1, -1))) errors.push(`${at} message: unknown feature ${name}`);
    }
    const code = compileRule(condition, constants, rule.message, features);
    return { id: rule.id, mode: rule.mode, score: rule.score ?? 0, hold: rule.hold ?? false, approve: rule.approve ?? false, message: rule.message, features, ...code };
  });
  file.keep.forEach((name, i) => {
    const info = catalogue.get(name);
    if (!info) errors.push(`keep[${i}]: unknown feature "${name}"${suggest(name, catalogue)}`);
    else if (!info.needs) errors.push(`keep[${i}]: "${name}" is a field of the event; the store keeps nothing for it`);
  });
  const deviceRetentionMs = parseDuration(file.deviceRetention);
  if (deviceRetentionMs === undefined || deviceRetentionMs > MAX_WINDOW_MS) {
    errors.push(`deviceRetention: expected a duration such as 7d, at most 30d; got ${JSON.stringify(file.deviceRetention)}`);
  }
  if (errors.length > 0) throw new ConfigError(`${source}: ${errors.join('; ')}`);
  const read = new Set(rules.flatMap((r) => [...r.features, ...(r.message.match(/\{([^}]+)\}/g) ?? []).map((p) => p.slice(1, -1))]));
  const readers = [...read].map((name): NamedReader => [name, catalogue.get(name)!.read, catalogue.get(name)!.expr]);
  const needs = (names: Iterable<string>) => [...names].flatMap((name) => catalogue.get(name)?.needs ?? []) as StoreNeed[];
  const plan = buildPlan(windows, needs(read), needs(file.keep), deviceRetentionMs);
  const listKinds = ENTITY_KINDS.filter((kind) => read.has(`${kind}.blocked`) || read.has(`${kind}.allowed`));
  return { version: file.version, holdAt: file.holdAt, windows, rules, readers, features: compileFeatures(readers), keep: file.keep, plan, listKinds };
}

/** "rules[2].when" -> 'rule "pf-burst" (rules[2]) when' so an error names the rule by its id. */
function where(raw: unknown, path: readonly PropertyKey[]): string {
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const id = (raw as { rules?: { id?: unknown }[] })?.rules?.[path[1]]?.id;
    const head = `rule ${typeof id === 'string' ? `"${id}" ` : ''}(rules[${path[1]}])`;
    return path.length > 2 ? `${head} ${formatPath(path.slice(2))}` : head;
  }
  return formatPath(path) || '(top level)';
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

interface CompileContext {
  readonly catalogue: Map<string, FeatureInfo>;
  readonly features: string[];
  /** Values the rule's code reads as k[i]: the sets of in and notIn, and bounds JSON cannot write. */
  readonly constants: unknown[];
  readonly errors: (message: string) => void;
}

/**
 * A rule's condition, message and feature copy as code, one function each, compiled once: every
 * feature read by a constant name (a predicate shared by every leaf that loads `f[name]` by a
 * computed name goes megamorphic). Names and values from the file appear only as JSON literals;
 * sets and non-finite bounds as k[i].
 */
function compileRule(condition: string, constants: readonly unknown[], message: string, features: readonly string[]): Pick<CompiledRule, 'test' | 'render' | 'copyFeatures'> {
  const text = message.split(/\{([^}]+)\}/).map((part, i) => (i % 2 ? `(${read(part)} ?? "?")` : JSON.stringify(part)));
  const copies = [...new Set(features)].map((name) => `if (${read(name)} !== undefined) into[${JSON.stringify(name)}] = ${read(name)};`);
  const body = [
    'return {',
    `  test(f) { return ${condition}; },`,
    `  render(f) { return ${text.join(' + ')}; },`,
    `  copyFeatures(f, into) { ${copies.join(' ')} },`,
    '};',
  ].join('\n');
  return new Function('k', body)(constants) as Pick<CompiledRule, 'test' | 'render' | 'copyFeatures'>;
}

/** A feature of `f`, as code. */
const read = (name: string) => `f[${JSON.stringify(name)}]`;

/** A constant as code: JSON, but for a non-finite bound (YAML .inf, .nan), which JSON would write as null. */
function literal(value: unknown, ctx: CompileContext): string {
  return typeof value === 'number' && !Number.isFinite(value) ? constant(value, ctx) : JSON.stringify(value);
}

function constant(value: unknown, ctx: CompileContext): string {
  ctx.constants.push(value);
  return `k[${ctx.constants.length - 1}]`;
}

/** A condition that never holds: what a condition with an error compiles to (the policy is refused anyway). */
const never = 'false';

/** The condition as a JavaScript expression over the features `f`, parenthesised. */
function compileCondition(raw: unknown, path: string, ctx: CompileContext): string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.errors(`${path}: expected a condition (all, any, not, or a feature comparison)`);
    return never;
  }
  const keys = Object.keys(raw);
  const body = raw as Record<string, unknown>;
  for (const group of ['all', 'any'] as const) {
    if (!(group in body)) continue;
    if (keys.length !== 1) ctx.errors(`${path}: "${group}" stands alone; found also ${keys.filter((k) => k !== group).join(', ')}`);
    const list = body[group];
    if (!Array.isArray(list) || list.length === 0) {
      ctx.errors(`${path}.${group}: expected a non-empty list of conditions`);
      return never;
    }
    const parts = list.map((c, i) => compileCondition(c, `${path}.${group}[${i}]`, ctx));
    return `(${parts.join(group === 'all' ? ' && ' : ' || ')})`;
  }
  if ('not' in body) {
    if (keys.length !== 1) ctx.errors(`${path}: "not" stands alone; found also ${keys.filter((k) => k !== 'not').join(', ')}`);
    return `(!${compileCondition(body.not, `${path}.not`, ctx)})`;
  }
  return compileLeaf(raw, path, ctx);
}

function compileLeaf(raw: object, path: string, ctx: CompileContext): string {
  const parsed = Leaf.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.errors(`${path}${issue.path.length ? `.${formatPath(issue.path)}` : ''}: ${issue.message}`);
    return never;
  }
  const leaf = parsed.data;
  const ops = COMPARISONS.filter((op) => leaf[op] !== undefined);
  if (ops.length !== 1) {
    ctx.errors(`${path}: expected exactly one comparison (${COMPARISONS.join(', ')}), found ${ops.length ? ops.join(', ') : 'none'}`);
    return never;
  }
  const op = ops[0]!;
  const info = ctx.catalogue.get(leaf.feature);
  if (!info) {
    ctx.errors(`${path}.feature: unknown feature "${leaf.feature}"${suggest(leaf.feature, ctx.catalogue)}`);
    return never;
  }
  ctx.features.push(leaf.feature);
  const expected = leaf[op]!;
  const checkValue = (value: unknown, field: string) => {
    if (typeof value !== info.type) ctx.errors(`${path}.${field}: "${leaf.feature}" is a ${info.type}, got ${JSON.stringify(value)}`);
    else if (info.values && !info.values.includes(value as string)) {
      ctx.errors(`${path}.${field}: "${leaf.feature}" is one of ${info.values.join(', ')}, got ${JSON.stringify(value)}`);
    } else if (info.codes && !info.codes.set.has(value as string)) {
      const upper = (value as string).toUpperCase();
      const hint = upper !== value && info.codes.set.has(upper) ? ` (did you mean "${upper}"?)` : '';
      ctx.errors(`${path}.${field}: "${leaf.feature}" is ${info.codes.name}, got ${JSON.stringify(value)}${hint}`);
    }
  };
  if (op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') {
    if (info.type !== 'number') ctx.errors(`${path}.${op}: "${leaf.feature}" is a ${info.type}, not a number`);
    if (typeof expected === 'number') return comparison(leaf.feature, op, expected, ctx);
    const ref = compileRef(expected, `${path}.${op}`, ctx);
    return ref ? relative(leaf.feature, op, ref.feature, ref.times) : never;
  } else if (op === 'eq' || op === 'ne') checkValue(expected, op);
  else if (op === 'in' || op === 'notIn') (expected as FeatureValue[]).forEach((v, i) => checkValue(v, `${op}[${i}]`));
  return comparison(leaf.feature, op, expected as FeatureValue | FeatureValue[], ctx);
}

/**
 * `{ feature, times }`: the other side of a numeric comparison is another feature (a number) times
 * a factor (default 1, positive and finite). Both features are read, so both reach the read plan.
 */
function compileRef(raw: unknown, path: string, ctx: CompileContext): { feature: string; times: number } | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.errors(`${path}: expected a number or { feature: <name>, times: <factor> }, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const body = raw as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== 'feature' && k !== 'times');
  if (extra.length) ctx.errors(`${path}: unknown field ${extra.map((k) => `"${k}"`).join(', ')} (expected feature and times)`);
  const { feature, times = 1 } = body;
  if (typeof feature !== 'string' || feature === '') {
    ctx.errors(`${path}.feature: expected a feature name, got ${JSON.stringify(feature)}`);
    return undefined;
  }
  const info = ctx.catalogue.get(feature);
  if (!info) {
    ctx.errors(`${path}.feature: unknown feature "${feature}"${suggest(feature, ctx.catalogue)}`);
    return undefined;
  }
  if (info.type !== 'number') {
    ctx.errors(`${path}.feature: "${feature}" is a ${info.type}, not a number`);
    return undefined;
  }
  if (typeof times !== 'number' || !Number.isFinite(times) || times <= 0 || times > 1_000_000) {
    ctx.errors(`${path}.times: expected a positive factor (at most 1000000), got ${JSON.stringify(times)}`);
    return undefined;
  }
  ctx.features.push(feature);
  return { feature, times };
}

const OPERATORS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** A feature against another feature times a factor; false when either is absent. */
function relative(name: string, op: 'gt' | 'gte' | 'lt' | 'lte', other: string, times: number): string {
  return `(${read(name)} !== undefined && ${read(other)} !== undefined && ${read(name)} ${OPERATORS[op]} ${read(other)} * ${JSON.stringify(times)})`;
}

/** A comparison on a feature the event does not have is false (use `exists` to test presence). */
function comparison(name: string, op: Comparison, expected: FeatureValue | FeatureValue[] | boolean, ctx: CompileContext): string {
  const value = read(name);
  switch (op) {
    case 'exists':
      return `(${value} ${expected ? '!==' : '==='} undefined)`;
    case 'eq':
      return `(${value} === ${literal(expected, ctx)})`;
    case 'ne':
      return `(${value} !== undefined && ${value} !== ${literal(expected, ctx)})`;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return `(${value} ${OPERATORS[op]} ${literal(expected, ctx)})`;
    case 'in':
      return `(${value} !== undefined && ${constant(new Set(expected as FeatureValue[]), ctx)}.has(${value}))`;
    case 'notIn':
      return `(${value} !== undefined && !${constant(new Set(expected as FeatureValue[]), ctx)}.has(${value}))`;
  }
}

function suggest(name: string, catalogue: Map<string, FeatureInfo>): string {
  const head = name.split('.')[0];
  const near = [...catalogue.keys()].filter((k) => k.split('.')[0] === head).slice(0, 6);
  return near.length ? ` (features of "${head}" include ${near.join(', ')}, ...)` : ` (features start with event., account., linkedAccount., device., ip., instrument., merchant.)`;
}
