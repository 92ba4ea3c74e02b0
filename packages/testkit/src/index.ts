export { freePort } from './ports.ts';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis.ts';
export { monitorRedis, type RedisMonitor } from './redis-monitor.ts';
export {
  startRedisCluster,
  startRedisSentinel,
  type ClusterTopology,
  type RedisTopology,
  type SentinelTopology,
} from './redis-topologies.ts';
export { createCookieFetch, type CookieFetch } from './cookie-fetch.ts';
export {
  startStack,
  type Stack,
  type StackOptions,
  type ProcessStackOptions,
  type RunningGatehouse,
} from './stack.ts';
export { signIn } from './sign-in.ts';
export { inspectSession, callIdpAsClient, type InspectedSession } from './inspect.ts';
export {
  startHaproxy,
  haproxyConfig,
  type RunningHaproxy,
  type HaproxyBackend,
  type HaproxyLogLine,
} from './haproxy.ts';
export {
  spawnServerProcess,
  startServerProcess,
  type ServerProcess,
  type ProcessExit,
} from './server-process.ts';
export {
  startProxiedStack,
  type ProxiedStack,
  type ProxiedStackOptions,
  type ProxiedInstance,
} from './proxied-stack.ts';
export {
  startNginx,
  nginxGatewayHttp,
  type NginxOptions,
  type NginxGatewayOptions,
  type RunningNginx,
} from './nginx.ts';
export {
  startGlewlwyd,
  type GlewlwydClient,
  type GlewlwydOptions,
  type GlewlwydUser,
  type RunningGlewlwyd,
} from './glewlwyd.ts';
