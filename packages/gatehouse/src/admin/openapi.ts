import { z } from 'zod';
import type { GatehouseContext } from '../context.ts';
import type { AdminAccess } from './auth.ts';
import { problemSchema } from './schemas.ts';

/** The OpenAPI document: what it uses of the context. */
export type OpenApiDeps = Pick<GatehouseContext, 'cookies' | 'publicOrigin'>;

type JsonObject = Record<string, unknown>;

/**
 * What the document needs to know of one admin endpoint. The router's route definitions satisfy
 * it; declaring it here keeps the dependency one way (routes use the document, not the reverse).
 */
export interface DocumentedRoute {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express path below `/admin/api`, e.g. `/tenants/:tenant`. */
  path: string;
  operationId: string;
  summary: string;
  access: AdminAccess;
  body?: z.ZodType;
  /** Query parameters (all optional strings), documented from the object's fields. */
  query?: z.ZodObject;
  /** The body may be left out (it then counts as `{}`). */
  bodyOptional?: boolean;
  response: { status: 200 | 201 | 204; description: string; schema?: z.ZodType };
  /** Error statuses worth documenting besides the generic ones. */
  errors: number[];
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed JSON, or a bad query parameter (invalid_parameter)',
  401: 'No or bad credentials',
  403: 'Not allowed for this caller (or a cookie call without X-CSRF: 1 / from another origin)',
  404: 'Unknown tenant, provider or API key',
  409: 'Already exists, changed concurrently, or read-only (from the config file)',
  413: 'Body larger than 32 kB',
  415: 'Body is not JSON',
  422: 'validation_failed (with `errors`) or provider_check_failed (with `check`)',
  429: 'rate_limited: too many calls by this caller (the operator, a tenant’s API keys, a session, or an address); see Retry-After',
  503: 'The registry store is unavailable',
};

/** A JSON Schema for OpenAPI 3.1 (JSON Schema 2020-12 is its dialect): no `$schema` member. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

function operation(route: DocumentedRoute): JsonObject {
  const parameters: JsonObject[] = [...route.path.matchAll(/:([A-Za-z]+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  for (const [name, field] of Object.entries(route.query?.shape ?? {})) {
    const { description, ...schema } = jsonSchema(field as z.ZodType, 'input');
    parameters.push({
      name,
      in: 'query',
      required: false,
      ...(typeof description === 'string' ? { description } : {}),
      schema,
    });
  }
  const errorStatuses = new Set<number>([...route.errors, 429, 503]);
  if (route.access !== 'public') errorStatuses.add(401).add(403);
  if (route.body) errorStatuses.add(400).add(413).add(415).add(422);
  const responses: JsonObject = {
    [route.response.status]: {
      description: route.response.description,
      ...(route.response.schema
        ? {
            content: {
              'application/json': { schema: jsonSchema(route.response.schema, 'output') },
            },
          }
        : {}),
    },
  };
  for (const status of [...errorStatuses].sort()) {
    responses[status] = problemResponse(ERROR_DESCRIPTIONS[status] ?? 'Error');
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: `Access: ${ACCESS_TEXT[route.access]}.`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: route.bodyOptional !== true,
            content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
          },
        }
      : {}),
    responses,
    security: route.access === 'public' ? [] : SECURITY[route.access],
  };
}

const ACCESS_TEXT = {
  public: 'anyone',
  admin: 'the operator or any tenant admin',
  operator: 'the platform operator only',
  tenant: 'the operator, or an admin of the tenant in the path (API key or admin session)',
} as const;

const SECURITY = {
  admin: [{ operatorToken: [] }, { tenantApiKey: [] }, { adminSession: [] }],
  operator: [{ operatorToken: [] }],
  tenant: [{ operatorToken: [] }, { tenantApiKey: [] }, { adminSession: [] }],
} as const;

/**
 * The OpenAPI 3.1 document of the admin API, generated from the same route list and zod schemas
 * the router uses, so it cannot drift from what is served.
 */
export function buildOpenApiDocument(
  ctx: OpenApiDeps,
  routes: readonly DocumentedRoute[],
): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] = { ...paths[path], [route.method]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description:
        'Tenants, their identity providers and tenant admin API keys. JSON in; JSON or ' +
        'application/problem+json out. Cookie-authenticated calls need the header `X-CSRF: 1`.',
    },
    servers: [{ url: `${ctx.publicOrigin}/admin/api` }],
    paths,
    components: {
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
      securitySchemes: {
        operatorToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The platform operator token (GATEHOUSE_ADMIN_TOKEN).',
        },
        tenantApiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A tenant admin API key, `ghk_<id>_<secret>`.',
        },
        adminSession: {
          type: 'apiKey',
          in: 'cookie',
          name: ctx.cookies.session,
          description:
            "A signed-in user matching the tenant's admin rule; requires `X-CSRF: 1` and same origin.",
        },
      },
    },
  };
}
