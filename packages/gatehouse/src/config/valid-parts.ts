import type { z } from 'zod';
import { configSchema, tenantSchema, type ParsedConfig } from './schema.ts';

type Shape = Readonly<Record<string, z.ZodType>>;
type Entry = (raw: unknown) => unknown;

/**
 * The parts of an input that failed the schema which are valid on their own: every field that
 * parses (an invalid one takes its default, or is left out), and of each list the entries that
 * parse. The cross-field checks run on these, so that one run reports every problem it can
 * instead of one phase at a time. Only the top level may lack a required field; a list entry
 * lacking one is left out.
 *
 * @example
 * const parts = validParts({ mode: 'production', port: 'x', tenants: [tenant] });
 * // { mode: 'production', port: 3000, tenants: [parsed tenant], ... }
 */
export function validParts(input: Record<string, unknown>): Partial<ParsedConfig> {
  const tenantEntry: Entry = (raw) =>
    entryOf(configSchema.shape.tenants)(raw) ??
    validFields(
      tenantSchema.shape,
      raw,
      { providers: entryOf(tenantSchema.shape.providers) },
      false,
    );
  return validFields(configSchema.shape, input, { tenants: tenantEntry }, true) ?? {};
}

/** One entry of a list schema, parsed on its own (the list's own bounds aside). */
function entryOf(list: z.ZodType): Entry {
  return (raw) => {
    const parsed = list.safeParse([raw]);
    return parsed.success ? (parsed.data as unknown[])[0] : undefined;
  };
}

function validFields(
  shape: Shape,
  raw: unknown,
  entries: Readonly<Record<string, Entry>>,
  partial: boolean,
): Record<string, unknown> | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(shape)) {
    const value = fields[key];
    const parsed = schema.safeParse(value);
    if (parsed.success) {
      if (parsed.data !== undefined) out[key] = parsed.data;
      continue;
    }
    if (Array.isArray(value)) {
      const entry = entries[key] ?? entryOf(schema);
      const items = value.map(entry).filter((item) => item !== undefined);
      // Not a list field, or no entry left of a list that may not be empty: as if absent.
      if (items.length > 0 || schema.safeParse([]).success) {
        out[key] = items;
        continue;
      }
    }
    const fallback = schema.safeParse(undefined);
    if (fallback.success) {
      if (fallback.data !== undefined) out[key] = fallback.data;
    } else if (!partial) {
      return undefined;
    }
  }
  return out;
}
