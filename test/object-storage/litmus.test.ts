/**
 * litmus in object-storage mode (tree in PostgreSQL, contents in radosgw): every test passes,
 * no warnings, with one instance.
 */
import t from 'tap';
import { litmusBinary, runLitmus } from '../helpers/litmus.js';
import { objectStorageUnavailable, startEngines, startObjectStorageServer } from '../helpers/object-storage.js';

const litmus = litmusBinary();
const skip = objectStorageUnavailable(t) || (!litmus && (process.env['CI'] === 'true' ? t.fail('litmus is not installed') : 'litmus is not installed'));

t.test('litmus in object-storage mode, one instance', { skip }, async (t) => {
  const engines = await startEngines(t);
  const s = await startObjectStorageServer(t, engines);
  // litmus works inside URL/litmus/ ("begin" DELETEs and MKCOLs that): URL itself must exist.
  t.equal((await s.request('MKCOL', '/litmus/')).status, 201);
  await runLitmus(t, litmus, `${s.origin}/litmus/`);
});
