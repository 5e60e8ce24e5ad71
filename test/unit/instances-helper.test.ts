/**
 * test/helpers/instances.ts: a port that freePort() found free but that something else binds
 * before the instance starts (a test running beside it) is replaced by another, instead of
 * failing the test that asked for an instance.
 */
import t from 'tap';
import net from 'node:net';
import type * as Instances from '../helpers/instances.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/server.js';

t.test('a port taken before the instance binds it: another is used', async (t) => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  const taken = (squatter.address() as net.AddressInfo).port;
  let calls = 0;
  const { startInstance } = await t.mockImport<typeof Instances>('../helpers/instances.js', {
    '../helpers/ports.js': { freePort: async () => (++calls === 1 ? taken : freePort()) },
  });
  const instance = await startInstance(t, { root: tempDir(t) });
  t.not(instance.port, taken, `started on ${instance.port}, not on the taken ${taken}`);
  t.equal(calls, 2, 'one more port asked for');
  t.equal((await fetch(`${instance.origin}/.well-known/fastdav/health`)).status, 200, 'and it answers there');
});
