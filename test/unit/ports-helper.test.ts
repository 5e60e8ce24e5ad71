/**
 * test/helpers/ports.ts: the ports tests give the servers they start are free when picked and lie
 * below the kernel's ephemeral range, from which outgoing connections take their local ports (one
 * of them took a picked port before its server bound it, in CI).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { LOWEST_PICKED_PORT, freePort, freePortRange, portIsFree } from '../helpers/ports.js';

const ephemeralLow = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
})();

const listenOn = (port: number): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });

t.test('freePort: below the ephemeral range, free, and a server can bind it', async (t) => {
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    seen.add(port);
    t.ok(port >= LOWEST_PICKED_PORT && port < ephemeralLow, `${port} lies in [${LOWEST_PICKED_PORT}, ${ephemeralLow})`);
    const server = await listenOn(port);
    t.notOk(await portIsFree(port), 'taken while a server listens there');
    await new Promise((resolve) => server.close(resolve));
    t.ok(await portIsFree(port), 'free again once it closed');
  }
  t.ok(seen.size >= 15, `picked at random (${seen.size} different ports in 20 picks)`);
});

t.test('freePortRange: consecutive ports, all free', async (t) => {
  const base = await freePortRange(12);
  t.ok(base >= LOWEST_PICKED_PORT && base + 12 <= ephemeralLow, `${base}..${base + 11} below ${ephemeralLow}`);
  const servers = [];
  for (let p = base; p < base + 12; p++) servers.push(await listenOn(p));
  t.equal(servers.length, 12, 'each of the 12 could be bound');
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
});

t.test('a port someone listens on is never handed out: the pick moves on', async (t) => {
  const held = await listenOn(await freePort());
  t.teardown(() => held.close());
  const taken = (held.address() as net.AddressInfo).port;
  // The first random pick lands on the held port (as a pick by a test beside this one would).
  const random = Math.random;
  let calls = 0;
  // A pick is LOWEST_PICKED_PORT + floor(random × room), room = ephemeral start - lowest - 1.
  const room = ephemeralLow - LOWEST_PICKED_PORT - 1;
  Math.random = () => (++calls === 1 ? (taken - LOWEST_PICKED_PORT + 0.5) / room : random());
  let port: number;
  try {
    port = await freePort();
  } finally {
    Math.random = random;
  }
  t.not(port, taken, `handed out ${port}, not the held ${taken}`);
  t.ok(calls >= 2, 'a second pick was made');
  t.ok(await portIsFree(port), 'and that one is free');
});
