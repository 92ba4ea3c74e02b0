/// <reference types="node" />
import type { ServerResponse } from 'node:http';

export function send(res: ServerResponse, status: number): void {
  res.writeHead(status).end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * A Gatehouse problem+json answer; `extra` carries members such as `errors` or `check`, `headers`
 * more headers (`retry-after`).
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  code: string,
  title: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string | string[]> = {},
): void {
  // Like Gatehouse: its own problems carry the Gatehouse-Problem header.
  res
    .writeHead(status, {
      'content-type': 'application/problem+json',
      'gatehouse-problem': code,
      ...headers,
    })
    .end(
      JSON.stringify({
        type: `https://gatehouse.dev/problems/${code}`,
        title,
        status,
        code,
        ...extra,
      }),
    );
}
