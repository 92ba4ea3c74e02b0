import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request, Response } from 'express';

/**
 * Node's request and response as Express's, as `app.handle` makes them: the app's request and
 * response prototypes (its getters: `req.query`, `req.ip`, `res.cookie`…) and the two linked.
 * For the requests the server hands over without Express's router (`api-route.ts`,
 * `sign-in-route.ts`); a pair already converted is left as it is.
 */
export function asExpress(
  app: Express,
  req: IncomingMessage,
  res: ServerResponse,
): [Request, Response] {
  const request = req as Request;
  const response = res as Response;
  if (Object.getPrototypeOf(req) !== app.request) {
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    request.res = response;
    response.req = request;
  }
  return [request, response];
}
