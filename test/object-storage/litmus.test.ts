/**
 * litmus in object-storage mode (tree in PostgreSQL, contents in radosgw): every test passes,
 * no warnings, with one instance.
 */
import t from 'tap';
import { litmusCommand, runLitmus } from '../helpers/litmus.js';
import { objectStorageUnavailable, startEngines, startObjectStorageServer } from '../helpers/object-storage.js';

const skip = objectStorageUnavailable(t) || (!litmusCommand && (process.env['CI'] === 'true' ? t.fail('litmus is not installed') : 'litmus is not installed'));

t.test('litmus in object-storage mode, one instance', { skip }, async (t) => {
  const engines = await startEngines(t);
  const s = await startObjectStorageServer(t, engines);
  await runLitmus(t, s.origin);
});
