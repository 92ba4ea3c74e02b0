import { z } from 'zod';

/** A lowercase id: tenants, providers (the admin API's path parameters use the same pattern). */
export const slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be a lowercase slug (a-z, 0-9, -)');

// `abort`: zod runs later refinements after a failed one, and `new URL` would then throw.
export const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value), { message: 'must be an absolute URL', abort: true })
  .refine((value) => ['http:', 'https:'].includes(new URL(value).protocol), 'must be http(s)');
