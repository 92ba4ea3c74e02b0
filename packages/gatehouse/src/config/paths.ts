import { isRecord } from './environment.ts';

/**
 * How every configuration problem names its place (README "Configuration"): a dotted path from
 * the top of the config file. An entry of a list with ids is named by its id when that id is
 * valid (tenants and providers by `id`, routes by `prefix`, keys by `kid`); any other entry,
 * or one whose id is missing, invalid or all digits, by its position from 0. So the schema's
 * problems and the later checks' name the same entry the same way:
 * `tenants.acme.providers.okta.issuer`, `tenants.acme.hosts.1`, `routes./api/demo.upstream`,
 * `signingKeys.2025-01.privateJwk`, `tenants.3.id`.
 */
const ENTRY_IDS: Readonly<Record<string, { field: string; valid: RegExp }>> = {
  tenants: { field: 'id', valid: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/ },
  providers: { field: 'id', valid: /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/ },
  routes: { field: 'prefix', valid: /^\/api\/[a-z0-9][a-z0-9-]*$/ },
  signingKeys: { field: 'kid', valid: /^[A-Za-z0-9_-]{1,64}$/ },
  encryptionKeys: { field: 'kid', valid: /^[A-Za-z0-9_-]{1,32}$/ },
};

/**
 * The name of entry `index` of the list `list` whose id is `id`: the id when it is valid,
 * otherwise the position.
 *
 * @example
 * entryLabel('tenants', 'acme', 0); // 'acme'
 * entryLabel('tenants', 'Acme Corp', 3); // '3'
 */
export function entryLabel(list: string, id: unknown, index: number): string {
  const rule = ENTRY_IDS[list];
  const named = rule && typeof id === 'string' && rule.valid.test(id) && !/^\d+$/.test(id);
  return named ? id : String(index);
}

/**
 * A schema issue's path (`['tenants', 0, 'hosts', 1]`) in the one style, read against the raw
 * input the issue is about.
 *
 * @example
 * configPath({ tenants: [{ id: 'acme', hosts: ['a', 'B!'] }] }, ['tenants', 0, 'hosts', 1]);
 * // 'tenants.acme.hosts.1'
 */
export function configPath(input: unknown, path: readonly PropertyKey[]): string {
  const segments: string[] = [];
  let node: unknown = input;
  let list: string | undefined;
  for (const key of path) {
    if (typeof key === 'number' && Array.isArray(node)) {
      const entry: unknown = node[key];
      const field = list === undefined ? undefined : ENTRY_IDS[list]?.field;
      const id = isRecord(entry) && field !== undefined ? entry[field] : undefined;
      segments.push(list === undefined ? String(key) : entryLabel(list, id, key));
      node = entry;
      list = undefined;
      continue;
    }
    segments.push(String(key));
    node = isRecord(node) ? node[String(key)] : undefined;
    list = typeof key === 'string' ? key : undefined;
  }
  return segments.join('.') || '(root)';
}
