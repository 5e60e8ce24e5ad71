/**
 * The metrics listener (`--metrics-port N`): a plain HTTP server, apart from the WebDAV port so
 * no path of the tree is ever shadowed, that answers `GET /metrics` in the Prometheus text format.
 *
 * One process serves its own registry. Under `--workers N` the primary listens and asks every
 * serving worker for its numbers over the cluster IPC channel (prom-client's protocol and
 * aggregation): counters and histograms are summed, the shared lock count is taken once (its
 * `max` aggregator).
 */
import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import { once } from 'node:events';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

export const METRICS_PATH = '/metrics';

type Scrape = () => Promise<{ contentType: string; body: string }>;

/** Starts the listener on host:port; resolves once it listens. */
export async function listenForScrapes(host: string, port: number, scrape: Scrape): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(path === METRICS_PATH ? 405 : 404, { 'content-type': 'text/plain; charset=utf-8', ...(path === METRICS_PATH ? { allow: 'GET, HEAD' } : {}) });
      res.end(path === METRICS_PATH ? 'use GET\n' : `metrics are at ${METRICS_PATH}\n`);
      return;
    }
    scrape().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  // Scrapes are short; an idle scraper connection must not keep a stopping process alive.
  server.keepAliveTimeout = 5_000;
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/** A single process: scrapes read `registry`. */
export function scrapeRegistry(registry: Registry): Scrape {
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}

/** prom-client's cluster messages (the worker side answers them: answerPrimary). */
const METRICS_REQUEST = 'prom-client:getMetricsReq';
const METRICS_RESPONSE = 'prom-client:getMetricsRes';
/** How long a scrape waits for the workers (Prometheus' default scrape timeout is 10 s). */
const WORKER_ANSWER_MS = 5000;

interface MetricsResponse {
  type?: unknown;
  requestId?: number;
  metrics?: MetricObjectWithValues<MetricValue<string>>[][];
  error?: string;
}

/**
 * The primary of --workers: a scrape asks every worker that serves (`serving`: it listens, so it
 * has installed its answer; one still starting would never answer) for its registry over the IPC
 * channel and sums them with prom-client's aggregation. A worker that does not answer in time
 * fails the scrape (503) rather than making counters seem to go back.
 */
export function scrapeWorkers(serving: (worker: Worker) => boolean): Scrape {
  let nextId = 0;
  const pending = new Map<number, { waiting: Set<number>; metrics: MetricObjectWithValues<MetricValue<string>>[][]; settle: (err: Error | null) => void }>();
  cluster.on('message', (worker, message: MetricsResponse) => {
    if (message?.type !== METRICS_RESPONSE || message.requestId === undefined) return;
    const request = pending.get(message.requestId);
    if (!request || !request.waiting.delete(worker.id)) return;
    if (message.error) return request.settle(new Error(`worker ${worker.process.pid}: ${message.error}`));
    request.metrics.push(...(message.metrics ?? []));
    if (request.waiting.size === 0) request.settle(null);
  });
  return async () => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected() && serving(w));
    const requestId = nextId++;
    const metrics: MetricObjectWithValues<MetricValue<string>>[][] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`no answer from ${request.waiting.size} worker(s) in ${WORKER_ANSWER_MS} ms`)), WORKER_ANSWER_MS);
      const settle = (err: Error | null): void => {
        clearTimeout(timer);
        pending.delete(requestId);
        if (err) reject(err);
        else resolve();
      };
      const request = { waiting: new Set(workers.map((w) => w.id)), metrics, settle };
      pending.set(requestId, request);
      for (const w of workers) w.send({ type: METRICS_REQUEST, requestId });
      if (workers.length === 0) settle(null);
    });
    const sum = AggregatorRegistry.aggregate(metrics);
    return { contentType: sum.contentType, body: await sum.metrics() };
  };
}

/** A worker of --workers: answer the primary's requests for this process's metrics. */
export function answerPrimary(registry: Registry): void {
  if (!cluster.isWorker) return;
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs the worker's IPC listener
}

/** Stops the listener (open scraper connections included). */
export async function closeListener(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
