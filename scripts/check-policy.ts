/**
 * npm run check-policy -- <file>: validates a policy file as a cold start would and prints what it
 * reads, so a rule can be checked before it is deployed. Exits 1 with the error (naming the rule and
 * field) when the policy is refused, 2 on a usage error.
 */
import { loadPolicyFile } from '../lib/policy/load.js';

const [path, ...rest] = process.argv.slice(2);
if (!path || rest.length > 0) {
  console.error('usage: npm run check-policy -- <policy.yaml|policy.json>');
  process.exit(2);
}
try {
  const policy = loadPolicyFile(path);
  const shadow = policy.rules.filter((r) => r.mode === 'shadow').length;
  console.log(
    [
      `${path}: valid`,
      `  version:  ${policy.version}`,
      `  holdAt:   ${policy.holdAt}`,
      `  windows:  ${policy.windows.map((w) => w.name).join(', ')}`,
      `  rules:    ${policy.rules.length}${shadow ? ` (${shadow} in shadow mode)` : ''}`,
      `  features read (${policy.readers.length}):`,
      ...policy.readers.map(([name]) => `    ${name}`).sort(),
    ].join('\n'),
  );
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
