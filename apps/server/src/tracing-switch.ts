/**
 * Whether OpenTelemetry tracing is on, decided from the standard variables without loading any
 * of it: on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set
 * (and `OTEL_SDK_DISABLED` is not `true`), off otherwise, and then nothing of OpenTelemetry is
 * imported.
 */
export function tracingEnabled(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

export const TRACING_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type TracingProtocol = (typeof TRACING_PROTOCOLS)[number];

/** The OTLP protocol of the traces exporter (default http/protobuf); undefined when unsupported. */
export function tracingProtocol(
  env: Record<string, string | undefined>,
): TracingProtocol | undefined {
  const value =
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
  return TRACING_PROTOCOLS.find((protocol) => protocol === value.trim());
}
