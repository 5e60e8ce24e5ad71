#!/usr/bin/env node
/**
 * The `fastdav` command: configuration from flags, environment and file; serve; stop cleanly on
 * SIGTERM/SIGINT; reload the certificate and account files on SIGHUP. Exit codes: 0 after a clean stop, 2 for a configuration error, 1 otherwise.
 */
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { ConfigError, helpText, isLoopback, loadConfig, metricsUrl, servingUrl, type Config } from './config.js';
import type { ServerMetrics } from './metrics/metrics.js';
import { COMMANDS, runCommand } from './commands.js';
import { tuneHeapGrowth } from './heap-growth.js';
import { followPrimary, isClusterPrimary, isWorkerProcess, reportRefusal, runPrimary } from './cluster.js';
import { stdoutLogSink, tolerateClosedStdio, type LogSink } from './log-sink.js';

/** How long the log may take to drain after the server has stopped, before the process exits anyway. */
const LOG_FLUSH_MS = 1000;

/** The version in package.json, which lies beside dist/ in the repository and in an installed package. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** What SIGHUP does once the server is up; before that it is ignored (Node's default would end the process). */
let onHangup = (): void => undefined;

async function main(): Promise<number> {
  tolerateClosedStdio();
  process.on('SIGHUP', () => onHangup());
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`fastdav ${version()}\n`);
    return 0;
  }
  if (argv[0] !== undefined && COMMANDS.has(argv[0])) {
    try {
      return await runCommand(argv[0], argv.slice(1));
    } catch (err) {
      process.stderr.write(`fastdav ${argv[0]}: ${err instanceof Error ? err.message : String(err)}\n`);
      return err instanceof ConfigError ? 2 : 1;
    }
  }
  let config: Config;
  let app: FastifyInstance;
  let metrics: Awaited<ReturnType<typeof startMetrics>> | undefined;
  let log: LogSink | undefined;
  try {
    config = loadConfig({ argv });
    // --workers N: this process supervises N server processes (src/cluster.ts), which announce
    // nothing; only a process that serves loads the server.
    if (isClusterPrimary(config)) return await runPrimary(config);
    followPrimary();
    tuneHeapGrowth();
    const { buildApp } = await import('./app.js');
    metrics = config.metricsPort === undefined ? undefined : await startMetrics(config);
    log = stdoutLogSink();
    app = await buildApp(config, { logger: { level: config.logLevel, stream: log.stream }, ...(metrics ? { metrics: metrics.metrics } : {}) });
    await listen(app, config);
  } catch (err) {
    if (err instanceof ConfigError) {
      // With --workers every worker meets the same problem: the primary says it once.
      if (isWorkerProcess) await reportRefusal(err.message);
      else process.stderr.write(`fastdav: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  if (!isWorkerProcess) {
    const what = config.s3Bucket ? `S3 bucket ${config.s3Bucket}${config.s3Prefix ? ` (prefix ${config.s3Prefix})` : ''}` : config.root;
    process.stdout.write(`fastdav serving ${what} at ${servingUrl(config, port)}\n`);
  }
  // SIGHUP (systemctl reload, kill -HUP): certificate and account files are read again, as nginx does.
  onHangup = () => void app.reloadFiles();
  if (config.users && !config.tlsCert && !isLoopback(config.host)) {
    app.log.warn('passwords cross the network in clear text: serve HTTPS (--tls-cert, --tls-key) or put a TLS proxy in front');
  }

  await stopOnSignal(app, config.shutdownTimeout);
  await metrics?.close();
  await log!.flushWithin(LOG_FLUSH_MS);
  return 0;
}

/** Reasons a server cannot listen that are the operator's to fix: one line each, exit 2. */
function listenRefusal(code: string | undefined, config: Config): string | undefined {
  switch (code) {
    case 'EADDRINUSE':
      return `port: ${config.port} on ${config.host} is already in use by another program; choose another --port`;
    case 'EADDRNOTAVAIL':
      return `host: ${config.host} is not an address of this machine; choose one of its addresses, 0.0.0.0 or :: for all`;
    case 'EACCES':
      return `port: ${config.port} needs privileges (ports below 1024); choose --port 1024 or above, or grant CAP_NET_BIND_SERVICE`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host: ${config.host} is not a known host name`;
    default:
      return undefined;
  }
}

async function listen(app: FastifyInstance, config: Config): Promise<void> {
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const refusal = listenRefusal((err as NodeJS.ErrnoException).code, config);
    if (!refusal) throw err;
    await app.close().catch(() => undefined);
    throw new ConfigError(refusal);
  }
}

/**
 * --metrics-port: the registry this process feeds. A single process also serves it on its own
 * listener; a worker answers the primary, which serves the sum of all workers (cluster.ts).
 */
async function startMetrics(config: Config): Promise<{ metrics: ServerMetrics; close: () => Promise<void> }> {
  const { ServerMetrics } = await import('./metrics/metrics.js');
  const { answerPrimary, closeListener, listenForScrapes, scrapeRegistry } = await import('./metrics/listener.js');
  const metrics = new ServerMetrics();
  if (isWorkerProcess) {
    answerPrimary(metrics.registry);
    return { metrics, close: async () => undefined };
  }
  const listener = await listenForScrapes(config.host, config.metricsPort!, scrapeRegistry(metrics.registry));
  process.stdout.write(`fastdav metrics at ${metricsUrl(config)}\n`);
  return { metrics, close: () => closeListener(listener) };
}

/**
 * SIGTERM/SIGINT: stop accepting connections, close idle ones, let requests in flight finish for
 * up to `timeoutSeconds`, then cut what is left; the metadata store is closed last (app.ts
 * onClose). A second signal cuts at once. Also right as PID 1 in a container: Node installs
 * these handlers itself, no init process needed.
 */
async function stopOnSignal(app: FastifyInstance, timeoutSeconds: number): Promise<void> {
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  app.log.info({ signal, timeoutSeconds }, 'stopping: waiting for requests in flight');
  const cut = (why: string) => {
    app.log.warn(`stopping: ${why}, closing the remaining connections`);
    app.server.closeAllConnections();
  };
  const timer = setTimeout(() => cut(`still busy after ${timeoutSeconds} s`), timeoutSeconds * 1000);
  const again = () => cut('second signal');
  process.once('SIGTERM', again).once('SIGINT', again);
  await app.close();
  clearTimeout(timer);
  app.log.info({ signal }, 'stopped');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fastdav: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
