/** A small seeded simulation written to a temporary directory, for the replay tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { STRATEGIES } from '../../lib/simulate/attackers.js';
import { type SimulationFiles, simulateToFiles } from '../../lib/simulate/files.js';

export const DEFAULT_POLICY = 'policies/default.yaml';

export function smallSimulation(options: { people?: number; days?: number; warmupDays?: number; seed?: number } = {}): Promise<SimulationFiles & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-sim-'));
  return simulateToFiles(
    {
      policy: { policy: loadPolicyFile(DEFAULT_POLICY), file: DEFAULT_POLICY },
      people: options.people ?? 120,
      days: options.days ?? 3,
      warmupDays: options.warmupDays ?? 1,
      seed: options.seed ?? 11,
      attacks: Object.fromEntries(STRATEGIES.map((s) => [s, 1])) as Record<(typeof STRATEGIES)[number], number>,
      noticeHours: 12,
    },
    dir,
  ).then((files) => ({ ...files, dir }));
}
