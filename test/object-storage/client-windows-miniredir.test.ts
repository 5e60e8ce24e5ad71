/**
 * The Windows replay of test/clients/ unchanged, in object-storage mode: three instances on one
 * PostgreSQL database and one radosgw bucket behind HAProxy (every request balanced on its own).
 * What was stored is checked through the balancer, since there is no data folder to read.
 */
import t from 'tap';
import { oneTargetPerFile, useClientTargets } from '../clients/client-kit.js';
import { objectStorageClusterForClients, objectStorageClusterUnavailable } from '../helpers/object-storage.js';

const skip = objectStorageClusterUnavailable(t);
if (skip) {
  t.plan(0, skip);
} else {
  // One cluster for the whole file: each replay uses names of its own.
  useClientTargets(oneTargetPerFile(t, objectStorageClusterForClients));
  await import('../clients/windows-miniredir.test.js');
}
