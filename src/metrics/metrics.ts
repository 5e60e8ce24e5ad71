/**
 * Prometheus metrics (prom-client) for operators of one or several instances: requests by method
 * and status, latency by method, requests in flight, request and response body bytes, active
 * locks, metadata store errors and connection pool use. Exposed on a listener of its own
 * (`--metrics-port`, metrics/listener.ts), never inside the WebDAV tree.
 *
 * Nothing is measured unless metrics are configured: app.ts installs the hooks only then.
 * Gauges that need a look at shared state (active locks, the pool) are read on scrape, through
 * the sources the app registers, so serving requests costs no extra database round trip.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A metadata store's connection pool, as node-postgres' Pool reports it. */
export interface PoolUse {
  /** Connections open (busy and idle). */
  readonly total: number;
  readonly idle: number;
  /** Requests waiting for a connection. */
  readonly waiting: number;
}

/** What the metrics read from the rest of the server on each scrape. */
export interface MetricSources {
  /** Number of unexpired locks in the shared store. */
  activeLocks?: () => Promise<number> | number;
  /** The metadata store's pool, when it has one (PostgreSQL). */
  poolUse?: () => PoolUse | null;
  /** The PROPFIND listing cache, when there is one (object storage). */
  listingCache?: () => ListingCacheUse;
}

/** The PROPFIND listing cache's use since start (props/listing-cache.ts). */
export interface ListingCacheUse {
  /** Answers sent from the cache. */
  readonly hits: number;
  /** Answers looked for and not found current (their listing had changed). */
  readonly misses: number;
  /** Bytes of answers kept now. */
  readonly bytes: number;
}

/** WebDAV and HTTP methods get their own label; anything else is counted as "other". */
const KNOWN_METHODS = new Set([
  'OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'TRACE',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK',
]);

const methodLabel = (method: string | undefined): string => (method && KNOWN_METHODS.has(method) ? method : 'other');

/** Latency buckets in seconds: a cached GET takes ~1 ms, a large tree COPY seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  private sources: MetricSources = {};

  readonly requests = new Counter({
    name: 'fastdav_http_requests_total',
    help: 'HTTP requests answered, by method and status ("aborted": the connection closed before the answer was complete)',
    labelNames: ['method', 'status'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'fastdav_http_request_duration_seconds',
    help: 'Time from the request head to the end of the answer, by method',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly inFlight = new Gauge({
    name: 'fastdav_http_requests_in_flight',
    help: 'Requests received and not yet answered',
    registers: [this.registry],
  });

  readonly bytesIn = new Counter({
    name: 'fastdav_http_request_body_bytes_total',
    help: 'Request body bytes received (uploads, XML bodies), by method',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly bytesOut = new Counter({
    name: 'fastdav_http_response_body_bytes_total',
    help: 'Response body bytes sent, by method',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly metadataErrors = new Counter({
    name: 'fastdav_metadata_errors_total',
    help: 'Failed operations of the metadata store (dead properties, locks): lost database, timeouts, refused queries',
    registers: [this.registry],
  });

  constructor() {
    const metrics = this;
    /** A gauge set on each scrape to what `read` gives (nothing when it gives undefined). */
    const scrapedGauge = (name: string, help: string, read: () => number | undefined): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const value = read();
          if (value !== undefined) this.set(value);
        },
      });
    };
    // Registered first: a scrape reads them before the lock count's own query takes a connection.
    const poolGauge = (name: string, help: string, pick: (use: PoolUse) => number): void => {
      scrapedGauge(name, help, () => {
        const use = metrics.sources.poolUse?.();
        return use ? pick(use) : undefined;
      });
    };
    poolGauge('fastdav_metadata_pool_connections', 'Open connections of the metadata store pool (busy and idle)', (u) => u.total);
    poolGauge('fastdav_metadata_pool_idle_connections', 'Idle connections of the metadata store pool', (u) => u.idle);
    poolGauge('fastdav_metadata_pool_waiting_requests', 'Queries waiting for a connection of the metadata store pool', (u) => u.waiting);
    // Every instance sees the same shared lock table: across --workers the primary reports the
    // largest answer rather than the sum (prom-client's cluster aggregator).
    new Gauge({
      name: 'fastdav_locks_active',
      help: 'Unexpired locks in the metadata store (shared by every instance that uses it)',
      aggregator: 'max',
      registers: [this.registry],
      async collect() {
        const count = metrics.sources.activeLocks;
        if (!count) return;
        try {
          this.set(await count());
        } catch {
          metrics.metadataErrors.inc();
        }
      },
    });
    // The listing cache counts for itself (nothing per request here); read on scrape.
    const cacheCounter = (name: string, help: string, pick: (use: ListingCacheUse) => number): void => {
      let counted = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const use = metrics.sources.listingCache?.();
          if (!use) return;
          this.inc(pick(use) - counted);
          counted = pick(use);
        },
      });
    };
    cacheCounter('fastdav_listing_cache_hits_total', 'PROPFIND answers sent from the listing cache (the database showed the listing unchanged)', (u) => u.hits);
    cacheCounter('fastdav_listing_cache_misses_total', 'PROPFIND answers looked for in the listing cache and found changed', (u) => u.misses);
    scrapedGauge('fastdav_listing_cache_bytes', 'Bytes of PROPFIND answers kept in the listing cache', () => metrics.sources.listingCache?.().bytes);
    collectDefaultMetrics({ register: this.registry, prefix: 'fastdav_' });
  }

  /** Where the scrape-time gauges read from (app.ts, once the stores are open). */
  setSources(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /**
   * Measures every request `app` receives except those to `skipPath` (the health endpoint, polled
   * every second by load balancers). Bodies are counted where Node hands them over: the parser
   * pushes request body chunks into the request stream, and the answer goes through write/end.
   */
  instrument(app: FastifyInstance, skipPath: string): void {
    app.addHook('onRequest', (request, reply, done) => {
      if (request.url !== skipPath) this.track(request.raw, reply.raw);
      done();
    });
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const method = methodLabel(req.method);
    const started = process.hrtime.bigint();
    let received = 0;
    let sent = 0;
    this.inFlight.inc();

    const push = req.push;
    req.push = function countedPush(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk !== null && chunk !== undefined) received += byteLength(chunk, encoding);
      return push.call(this, chunk, encoding);
    };
    const write = res.write;
    res.write = function countedWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      sent += byteLength(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse['write'];
    const end = res.end;
    res.end = function countedEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
      if (typeof chunk !== 'function') sent += byteLength(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse['end'];

    res.once('close', () => {
      this.inFlight.dec();
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      this.requests.inc({ method, status });
      this.latency.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
      if (received > 0) this.bytesIn.inc({ method }, received);
      // A HEAD answer carries no body even when a handler writes one.
      if (sent > 0 && method !== 'HEAD') this.bytesOut.inc({ method }, sent);
    });
  }
}

function byteLength(chunk: unknown, encoding: BufferEncoding | undefined): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, encoding ?? 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}
