/**
 * The benchmark's "usual Express BFF": express-openid-connect (code flow against the dev IdP,
 * its default encrypted cookie session) in front of http-proxy-middleware, which forwards
 * `/api/demo/*` with the session's access token. Signed in for real, like Gatehouse.
 *
 *   PORT=… UPSTREAM=… ISSUER=… CLIENT_ID=… CLIENT_SECRET=… node scripts/bench/eoc-proxy.ts
 */
import { Agent } from 'node:http';
import express from 'express';
import openidConnect from 'express-openid-connect';
import { createProxyMiddleware } from 'http-proxy-middleware';

const { auth, requiresAuth } = openidConnect;
const port = Number(process.env.PORT);
const app = express();
app.disable('x-powered-by');
app.use(
  auth({
    issuerBaseURL: process.env.ISSUER ?? '',
    baseURL: `http://localhost:${port}`,
    clientID: process.env.CLIENT_ID ?? '',
    clientSecret: process.env.CLIENT_SECRET ?? '',
    secret: process.env.COOKIE_SECRET ?? '',
    authRequired: false,
    idpLogout: false,
    authorizationParams: {
      response_type: 'code',
      response_mode: 'query',
      scope: 'openid profile email offline_access',
    },
  }),
);
app.use(
  '/api/demo',
  requiresAuth(),
  createProxyMiddleware({
    target: process.env.UPSTREAM ?? '',
    changeOrigin: true,
    // A keep-alive pool to the upstream, as Gatehouse and the baselines have.
    agent: new Agent({ keepAlive: true, maxSockets: 128 }),
    on: {
      proxyReq: (proxyReq, req) => {
        const token = (req as express.Request).oidc.accessToken?.access_token ?? '';
        proxyReq.removeHeader('cookie');
        proxyReq.setHeader('authorization', `Bearer ${token}`);
      },
    },
  }),
);
app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
