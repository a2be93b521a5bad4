import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, ContextManager, Span, Tracer } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { isPetcutError } from '../errors.js';
import type { ProcessObserver, StageEvent, WorkStart, WorkWatch } from './work.js';

/**
 * OpenTelemetry traces, the only module that imports @opentelemetry/*:
 * main.ts loads it (dynamic import) only when an OTLP endpoint is set, so
 * the service without tracing never loads the SDK. The SDK reads the
 * standard OTEL_* variables (endpoint, protocol, headers, sampler, batch
 * sizes, resource attributes); the rest of the code sees only `Tracing`.
 */
export interface Tracing {
  /** Starts a request's SERVER span, continuing the caller's trace (`traceparent`). */
  startRequest(request: TracedRequest): RequestSpan;
  /** Spans for each piece of work and its stages (combined with the metrics' observer). */
  readonly observer: ProcessObserver;
  /** Exports every finished span now (tests; shutdown does it too). */
  forceFlush(): Promise<void>;
  /** Flushes the batch and stops the exporter. */
  shutdown(): Promise<void>;
}

export interface TracedRequest {
  readonly method: string;
  /** The route template (`/v1/jobs/:id`), none when no route matched. */
  readonly route?: string;
  /** Without the query string: it may carry signatures and tokens. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface RequestSpan {
  /** The span's context, for the work's origin (opaque outside this module). */
  readonly context: unknown;
  readonly traceId: string;
  readonly spanId: string;
  /** Ends the span once; a missing status means no response was completed (client gone, timeout). */
  end(result: { readonly status?: number; readonly errorCode?: string }): void;
}

export function startTracing(options: { readonly serviceName?: string } = {}): Tracing {
  // service.name defaults to ours; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the env detector) win.
  const resource = defaultResource().merge(resourceFromAttributes({ 'service.name': options.serviceName ?? 'petcut' }));
  const sdk = new NodeSDK({
    resource,
    // Contexts travel explicitly (request -> work origin -> stage), so no AsyncLocalStorage
    // context manager: on Node 20 it would add a hook to every promise. null = do not register.
    contextManager: null as unknown as ContextManager,
    // Traces only: metrics are Prometheus' (/metrics), logs go to stdout.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const tracer = trace.getTracer('petcut');
  return {
    startRequest: (request) => startRequestSpan(tracer, request),
    observer: tracingObserver(tracer),
    forceFlush: async () => {
      const provider = trace.getTracerProvider() as { getDelegate?: () => { forceFlush?: () => Promise<void> } };
      await provider.getDelegate?.().forceFlush?.();
    },
    shutdown: async () => {
      await sdk.shutdown();
      // Unregistered so that a later start (tests) can register again.
      trace.disable();
      propagation.disable();
    },
  };
}

function startRequestSpan(tracer: Tracer, request: TracedRequest): RequestSpan {
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const attributes: Attributes = { 'http.request.method': request.method, 'url.path': request.path };
  if (request.route) attributes['http.route'] = request.route;
  const span = tracer.startSpan(request.route ? `${request.method} ${request.route}` : request.method, { kind: SpanKind.SERVER, attributes }, parent);
  const { traceId, spanId } = span.spanContext();
  let ended = false;
  return {
    context: trace.setSpan(parent, span),
    traceId,
    spanId,
    end({ status, errorCode }) {
      if (ended) return;
      ended = true;
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      if (errorCode) span.setAttribute('petcut.error_code', errorCode);
      // 4xx are the client's: only server errors and unfinished responses are the span's errors (semantic conventions).
      if (status === undefined) {
        span.setAttribute('error.type', errorCode ?? 'PETCUT_E_CLIENT_CLOSED');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'no response was completed' });
      } else if (status >= 500) {
        span.setAttribute('error.type', errorCode ?? String(status));
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode ?? `HTTP ${status}` });
      }
      span.end();
    },
  };
}

/** A ProcessObserver that only watches: a `petcut.process` span per piece of work, a child span per stage. */
function tracingObserver(tracer: Tracer): ProcessObserver {
  return { begin: (request) => watchWork(tracer, request) };
}

function watchWork(tracer: Tracer, request: WorkStart): WorkWatch {
  const origin = request.origin;
  const parent = isContext(origin?.trace) ? origin.trace : ROOT_CONTEXT;
  const attributes: Attributes = { 'petcut.input.bytes': request.input.length, 'petcut.outputs': request.outputs.length };
  if (origin?.requestId) attributes['petcut.request_id'] = origin.requestId;
  // One clock for the work and its stages. Left to itself the SDK starts each span at
  // Date.now() (whole milliseconds, and the wall clock may be stepped between two spans)
  // and ends it by the monotonic clock, so a stage could seem to begin before its work
  // or end after it; here every time is the work's start plus monotonic time elapsed.
  const wallStart = Date.now();
  const monotonicStart = performance.now();
  const now = (): number => wallStart + (performance.now() - monotonicStart);
  const work = tracer.startSpan('petcut.process', { attributes, startTime: wallStart }, parent);
  const inside = trace.setSpan(parent, work);
  let current: { stage: string; span: Span } | undefined;
  return {
    // Each stage lasts until the next one begins; a new queue position is an event on the queued span.
    stage(event) {
      if (event.stage === 'queued' && current?.stage === 'queued') {
        current.span.addEvent('petcut.queue.moved', { 'petcut.queue.position': event.position }, now());
        return;
      }
      const at = now();
      current?.span.end(at);
      current = { stage: event.stage, span: tracer.startSpan(`petcut.${event.stage}`, { attributes: stageAttributes(event), startTime: at }, inside) };
    },
    end({ outcome, error }) {
      const at = now();
      if (error !== undefined) {
        if (current) markFailed(current.span, error, at);
        markFailed(work, error, at);
      }
      current?.span.end(at);
      if (outcome) {
        work.setAttribute('petcut.cache', outcome.cache);
        // The pipeline's own times (without the messaging between threads the stage spans include).
        for (const [name, ms] of Object.entries(outcome.times)) if (Number.isFinite(ms)) work.setAttribute(`petcut.time_ms.${name}`, Math.round(ms * 10) / 10);
      }
      work.end(at);
    },
  };
}

function stageAttributes(event: StageEvent): Attributes {
  if (event.stage === 'queued') return { 'petcut.queue.position': event.position };
  if (event.stage === 'effect' || event.stage === 'encode') return { 'petcut.effect': event.effect, 'petcut.output.index': event.index, 'petcut.output.count': event.of };
  return {};
}

/** Refusals of bad input (4xx) are recorded but not errors of the work; anything else is. */
function markFailed(span: Span, error: unknown, at: number): void {
  const coded = isPetcutError(error) ? error : undefined;
  if (coded) span.setAttribute('petcut.error_code', coded.code);
  // On the work's clock, like the span's own times (without it the SDK would read Date.now()).
  span.recordException(error instanceof Error ? error : String(error), at);
  if (!coded || coded.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: coded?.code ?? (error instanceof Error ? error.message : String(error)) });
}

function isContext(value: unknown): value is Context {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Context>).getValue === 'function';
}
