/**
 * npm run hash -- <kind> <id>
 *
 * Prints the peppered hash riskhook logs and stores for an identifier, to search the logs with
 * (e.g. every decision of one customer: the decision lines' event.account.id). Kinds: account,
 * linkedAccount, device, ip, instrument, merchant. The pepper is RISKHOOK_PEPPER from the
 * environment (give the deployed one to search the deployed logs), else the local-only default;
 * which one is said on stderr, so stdout is the hash alone.
 */
import { ENTITY_KINDS, type EntityKind } from '../lib/events.js';
import { IdentityHasher } from '../lib/identity.js';
import { LOCAL_PEPPER } from '../lib/local-defaults.js';

function fail(message: string): never {
  console.error(`npm run hash: ${message}`);
  console.error(`usage: npm run hash -- <${ENTITY_KINDS.join('|')}> <id>`);
  process.exit(2);
}

const [kind, id, ...rest] = process.argv.slice(2);
if (kind === undefined || id === undefined || rest.length > 0) fail('expected a kind and an id');
if (!(ENTITY_KINDS as readonly string[]).includes(kind)) fail(`unknown kind "${kind}"; expected one of ${ENTITY_KINDS.join(', ')}`);
if (id === '') fail('the id is empty');
const fromEnv = process.env.RISKHOOK_PEPPER;
if (fromEnv !== undefined && fromEnv !== '' && fromEnv.length < 16) fail('RISKHOOK_PEPPER is shorter than 16 characters (riskhook refuses such a pepper)');
const pepper = fromEnv || LOCAL_PEPPER;
console.error(fromEnv ? 'pepper: RISKHOOK_PEPPER from the environment' : 'pepper: the local-only default (set RISKHOOK_PEPPER to the deployed pepper to search deployed logs)');
console.log(new IdentityHasher(pepper).entity(kind as EntityKind, id));
