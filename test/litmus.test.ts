/**
 * litmus 0.13, all five default suites, against a fresh server on a free port with a temporary
 * root: every test passes and no warning is issued, with the metadata in SQLite (the default) and
 * in PostgreSQL (a private cluster, test/helpers/postgres.ts). Skips locally when litmus (or
 * PostgreSQL, for that run) is not installed; under CI=true a missing one fails (.ci/run installs both).
 */
import t from 'tap';
import { litmusBinary, runLitmus } from './helpers/litmus.js';
import { startServer, type TapLike } from './helpers/server.js';
import { postgresSkipReason, startPostgres } from './helpers/postgres.js';

const inCI = process.env['CI'] === 'true';
const litmus = litmusBinary();

const stores = [
  { name: 'SQLite', skip: false as const, metadataUrl: async () => undefined },
  { name: 'PostgreSQL', skip: postgresSkipReason(), metadataUrl: async (t: TapLike) => (await startPostgres(t)).createDatabase() },
];

if (!litmus) {
  if (inCI) t.fail('litmus is not installed (CI=true: .ci/run should have installed it)');
  else t.plan(0, 'litmus is not installed: apt-get install litmus to run this test');
} else {
  for (const store of stores) {
    t.test(`litmus on ${store.name}: basic copymove props locks http, all passing, no warnings`, { skip: store.skip }, async (t) => {
      const s = await startServer(t, { metadataUrl: await store.metadataUrl(t) });
      // litmus works inside URL/litmus/ ("begin" DELETEs and MKCOLs that): URL itself must exist.
      t.equal((await s.request('MKCOL', '/litmus/')).status, 201);
      await runLitmus(t, litmus, `${s.origin}/litmus/`);
    });
  }
}
