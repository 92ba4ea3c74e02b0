import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { errors, request, type Dispatcher } from 'undici';
import { GatehouseError } from '../errors.ts';
import { downstreamResponseHeaders } from './headers.ts';

export interface ForwardTarget {
  url: URL;
  method: string;
  headers: Record<string, string | string[]>;
  timeoutMs: number;
  allowSetCookie: boolean;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/**
 * Streams the browser's request to the upstream and the upstream's answer back: no buffering
 * (uploads and server-sent events flow through), no redirects followed, upstream down → 502,
 * no answer within the route's timeout → 504. A browser that goes away aborts the upstream call.
 */
export async function forwardRequest(
  dispatcher: Dispatcher,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
): Promise<void> {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  const hasBody = !BODYLESS.has(target.method) || req.headers['content-length'] !== undefined;

  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await request(target.url, {
      dispatcher,
      method: target.method,
      headers: target.headers,
      body: hasBody ? req : undefined,
      signal: abort.signal,
      headersTimeout: target.timeoutMs,
      bodyTimeout: 0,
    });
  } catch (error) {
    res.off('close', onClose);
    throw upstreamError(error);
  }

  res.writeHead(
    upstream.statusCode,
    downstreamResponseHeaders(upstream.headers, { allowSetCookie: target.allowSetCookie }),
  );
  res.flushHeaders();
  try {
    await pipeline(upstream.body, res);
  } catch {
    // The browser left or the upstream broke mid-stream; headers are gone, so just end both sides.
    upstream.body.destroy();
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}

function upstreamError(error: unknown): GatehouseError {
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.ConnectTimeoutError) {
    return new GatehouseError(504, 'upstream_timeout', 'The API did not answer in time.', {
      cause: error,
      expose: true,
    });
  }
  return new GatehouseError(502, 'upstream_unavailable', 'The API is unavailable.', {
    cause: error,
    expose: true,
  });
}
