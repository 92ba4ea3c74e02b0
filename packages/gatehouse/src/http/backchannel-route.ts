import express, { type RequestHandler } from 'express';
import type { GatehouseContext } from '../context.ts';
import { GatehouseError, problem } from '../errors.ts';
import { describe } from '../observability/outages.ts';
import type { BackchannelOutcome } from '../observability/metrics.ts';
import { slug } from '../config/fields.ts';
import { addLogContext, auditOrigin } from './audit-origin.ts';

/** Back-channel logout: what it uses of the context. */
export type BackchannelRouteDeps = Pick<GatehouseContext, 'backchannel' | 'metrics' | 'rateLimits'>;

/**
 * `POST /bff/backchannel-logout/:tenant/:provider` with a form-encoded `logout_token`, called by
 * the IdP (server to server: no cookie, no CSRF header). 200 when the token is valid, whether
 * or not a session matched; 400 otherwise; 503 (`store_unavailable`, with `Retry-After`) when
 * the sessions cannot be ended now — an IdP that retries delivers it again later.
 */
export function backchannelLogoutRoute(ctx: BackchannelRouteDeps): RequestHandler[] {
  return [
    // Per provider, before the body is even parsed; ids that cannot exist share one key.
    async (req, _res, next) => {
      const tenant = String(req.params.tenant);
      const provider = String(req.params.provider);
      const known = slug.safeParse(tenant).success && slug.safeParse(provider).success;
      try {
        await ctx.rateLimits.consume('backchannelLogout', known ? `${tenant}/${provider}` : '?');
      } catch (error) {
        ctx.metrics.backchannelLogout('rate_limited');
        throw error;
      }
      next();
    },
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 }),
    async (req, res) => {
      const body = req.body as Record<string, unknown> | undefined;
      const token = body?.logout_token;
      if (typeof token !== 'string' || token.length === 0) {
        ctx.metrics.backchannelLogout('invalid');
        throw problem('invalid_logout_token');
      }
      const where = { tenant: String(req.params.tenant), provider: String(req.params.provider) };
      addLogContext(res, where);
      let ended: number;
      try {
        ended = await ctx.backchannel.receive(where.tenant, where.provider, token, {
          reason: 'back-channel',
          by: { kind: 'provider', id: where.provider },
          ...auditOrigin(req),
        });
      } catch (error) {
        ctx.metrics.backchannelLogout(backchannelOutcome(error));
        // Sessions the IdP ended are still alive here: worth an error line, once per request
        // (the 503 answer itself is only a warning). The IdP is told to retry.
        if (error instanceof GatehouseError && error.code === 'store_unavailable') {
          req.log.error(
            { ...where, reason: describe(error.cause) },
            'back-channel logout not applied: session store unavailable',
          );
        }
        throw error;
      }
      ctx.metrics.backchannelLogout('ok');
      ctx.metrics.sessionsEnded('backchannel', ended);
      req.log.info({ ended, ...where }, 'back-channel logout');
      res.status(200).end();
    },
  ];
}

function backchannelOutcome(error: unknown): BackchannelOutcome {
  if (!(error instanceof GatehouseError)) return 'error';
  if (error.code === 'store_unavailable') return 'store_unavailable';
  if (error.code === 'idp_unavailable') return 'idp_unavailable';
  return error.status < 500 ? 'invalid' : 'error';
}
