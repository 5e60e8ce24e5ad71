#!/usr/bin/env node
/**
 * The `fastdav` command: configuration from flags, environment and file; serve; stop cleanly on
 * SIGTERM/SIGINT. Exit codes: 0 after a clean stop, 2 for a configuration error, 1 otherwise.
 */
import { ConfigError, helpText, loadConfig } from './config.js';
import { followPrimary, isClusterPrimary, isWorkerProcess, runPrimary } from './cluster.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fastdav: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // --workers N: this process supervises N server processes (src/cluster.ts), which announce
  // nothing; only a process that serves loads the server.
  if (isClusterPrimary(config)) return runPrimary(config);
  followPrimary();
  const { buildApp } = await import('./app.js');
  const app = await buildApp(config);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (!isWorkerProcess) process.stdout.write(`fastdav serving ${config.root} at http://${host}:${port}${config.prefix}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      app.log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await app.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fastdav: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
