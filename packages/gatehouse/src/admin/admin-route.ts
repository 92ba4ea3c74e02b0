import type { Request } from 'express';
import type { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import type { AdminPrincipal } from './auth.ts';
import type { DocumentedRoute } from './openapi.ts';

/** What the admin API uses of the context: its handlers', its caller identification's, its limits. */
export type AdminDeps = Pick<
  GatehouseContext,
  | 'audit'
  | 'clientKeys'
  | 'clock'
  | 'config'
  | 'cookies'
  | 'metrics'
  | 'providerChecks'
  | 'providers'
  | 'publicOrigin'
  | 'rateLimits'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'vault'
>;

/** What an admin endpoint's handler is given: the caller, the checked body and path parameters. */
export interface AdminCall<Body> {
  ctx: AdminDeps;
  req: Request;
  who: AdminPrincipal;
  body: Body;
  /** Path parameters, already checked to be slugs (`keyId`: hex). */
  params: Record<string, string>;
}

/** One endpoint: its HTTP binding, its documentation and its handler, in one place. */
export interface AdminRoute<Body = unknown> extends DocumentedRoute {
  body?: z.ZodType<Body>;
  handle(call: AdminCall<Body>): Promise<unknown>;
}

/** Types one endpoint's definition by its body schema and widens it for the route lists. */
export const route = <Body>(definition: AdminRoute<Body>): AdminRoute => definition;
