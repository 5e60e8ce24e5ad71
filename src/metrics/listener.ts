/**
 * The metrics listener (`--metrics-port N`): a plain HTTP server, apart from the WebDAV port so
 * no path of the tree is ever shadowed, that answers `GET /metrics` in the Prometheus text format.
 *
 * One process serves its own registry. Under `--workers N` the primary listens and asks every
 * worker for its numbers over the cluster IPC channel (prom-client's AggregatorRegistry): counters
 * and histograms are summed, the shared lock count is taken once (its `max` aggregator).
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { once } from 'node:events';
import { AggregatorRegistry, type Registry } from 'prom-client';

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

/** The primary of --workers: scrapes gather every worker's registry. */
export function scrapeWorkers(): Scrape {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
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
