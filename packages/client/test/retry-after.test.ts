/// <reference types="node" />
import { describe, expect, it } from 'vitest';
import { GatehouseProblem, readProblem } from '../src/index.ts';
import { setUpFakeGatehouse } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();

const refreshError = (client: { refresh: () => Promise<unknown> }) =>
  client.refresh().then(
    () => undefined,
    (error: unknown) => error,
  );

describe('Retry-After on a GatehouseProblem', () => {
  // The server's own clock, far from ours: an HTTP-date counts from its Date header.
  const serverNow = 'Tue, 06 Nov 2001 08:49:30 GMT';

  it.each([
    ['delay-seconds', { 'retry-after': '5' }, 5_000],
    ['zero', { 'retry-after': '0' }, 0],
    ['leading zeros', { 'retry-after': '007' }, 7_000],
    ['an IMF-fixdate', { 'retry-after': 'Tue, 06 Nov 2001 08:49:38 GMT', date: serverNow }, 8_000],
    [
      'an RFC 850 date',
      { 'retry-after': 'Tuesday, 06-Nov-01 08:49:37 GMT', date: serverNow },
      7_000,
    ],
    ['an asctime date', { 'retry-after': 'Tue Nov  6 08:49:40 2001', date: serverNow }, 10_000],
    [
      'a leap second',
      { 'retry-after': 'Sat, 31 Dec 2016 23:59:60 GMT', date: 'Sat, 31 Dec 2016 23:59:50 GMT' },
      10_000,
    ],
    ['a date already past', { 'retry-after': 'Tue, 06 Nov 2001 08:49:00 GMT', date: serverNow }, 0],
    ['a huge delay', { 'retry-after': '9'.repeat(400) }, Number.MAX_SAFE_INTEGER],
  ])('reads %s', async (_name, headers, expected) => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = headers;
    const error = await refreshError(client);
    expect(error).toBeInstanceOf(GatehouseProblem);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable', retryAfterMs: expected });
  });

  it('counts an HTTP-date from now when the answer has no usable Date', async () => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = {
      'retry-after': new Date(Date.now() + 30_000).toUTCString(),
      date: 'yesterday',
    };
    const error = (await refreshError(client)) as GatehouseProblem;
    // HTTP-dates have whole seconds.
    expect(error.retryAfterMs).toBeGreaterThan(28_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it.each([
    ['a fraction', '5.5'],
    ['a negative number', '-1'],
    ['a number with a unit', '5s'],
    ['words', 'soon'],
    ['two values', ['5', '7']],
    ['a lower-case date', 'tue, 06 nov 2001 08:49:38 gmt'],
    ['an ISO date', '2001-11-06T08:49:38Z'],
    ['a date with an offset', 'Tue, 06 Nov 2001 08:49:38 +0000'],
    ['a day the month lacks', 'Fri, 31 Nov 2001 08:49:38 GMT'],
    ['hour 24', 'Tue, 06 Nov 2001 24:00:00 GMT'],
    ['nothing', ''],
  ])('ignores %s', async (_name, value) => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = { 'retry-after': value, date: serverNow };
    const error = await refreshError(client);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect((error as GatehouseProblem).retryAfterMs).toBeUndefined();
  });

  it('readProblem gives an apiFetch answer’s problem with its Retry-After; the body stays readable', async () => {
    fake.signIn();
    const { client } = clients.make();
    const res = await client.apiFetch('/api/gatehouse-503?retryAfter=3');
    const problem = await readProblem(res);
    expect(problem).toBeInstanceOf(GatehouseProblem);
    expect(problem).toMatchObject({ status: 503, code: 'store_unavailable', retryAfterMs: 3_000 });
    expect(await res.json()).toMatchObject({ code: 'store_unavailable' });
    // An API's own answer: a problem by its status, its Retry-After all the same.
    const upstream = await readProblem(await client.apiFetch('/api/upstream-503?retryAfter=9'));
    expect(upstream).toMatchObject({ status: 503, code: 'http_503', retryAfterMs: 9_000 });
  });
});
