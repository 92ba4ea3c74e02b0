import type { AdminRule } from './model.ts';

/** Whether session claims satisfy a tenant's admin rule (`claim` equals or contains `value`). */
export function matchesAdminRule(claims: Record<string, unknown>, rule: AdminRule): boolean {
  const claim = claims[rule.claim];
  if (typeof claim === 'string') return claim === rule.value;
  return Array.isArray(claim) && claim.some((item) => item === rule.value);
}
