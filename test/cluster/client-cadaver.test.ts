/**
 * The cadaver test of test/clients/ unchanged, against three instances behind HAProxy (every
 * request balanced on its own) instead of one in-process server.
 */
import t from 'tap';
import { useClientTargets } from '../clients/client-kit.js';
import { clusterForClients, clusterPrerequisites } from '../helpers/cluster.js';

const skip = clusterPrerequisites(t);
if (skip) {
  t.plan(0, skip);
} else {
  useClientTargets(clusterForClients);
  await import('../clients/cadaver.test.js');
}
