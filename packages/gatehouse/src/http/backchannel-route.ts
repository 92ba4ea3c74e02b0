import express, { type RequestHandler } from 'express';
import type { GatehouseContext } from '../context.ts';
import { badRequest } from '../errors.ts';

/**
 * `POST /bff/backchannel-logout/:tenant/:provider` with a form-encoded `logout_token`, called by
 * the IdP (server to server: no cookie, no CSRF header). 200 when the token is valid, whether
 * or not a session matched; 400 otherwise.
 */
export function backchannelLogoutRoute(ctx: GatehouseContext): RequestHandler[] {
  return [
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 }),
    async (req, res) => {
      const body = req.body as Record<string, unknown> | undefined;
      const token = body?.logout_token;
      if (typeof token !== 'string' || token.length === 0) {
        throw badRequest('invalid_logout_token', 'A single logout_token is required.');
      }
      const ended = await ctx.backchannel.receive(
        String(req.params.tenant),
        String(req.params.provider),
        token,
      );
      req.log.info(
        { ended, tenant: req.params.tenant, provider: req.params.provider },
        'back-channel logout',
      );
      res.status(200).end();
    },
  ];
}
