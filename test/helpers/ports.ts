/**
 * Test support: free loopback ports for the servers that tests start as processes (fastdav,
 * PostgreSQL, radosgw, HAProxy, nginx).
 *
 * A port is only known to be free when it is picked; the process binds it a moment later. Ports
 * the kernel hands out for listen(0) come from its ephemeral range, the same range from which
 * every outgoing connection takes its local port, and with the suites running side by side (tens
 * of thousands of connections) one of them sometimes took a picked port before its server bound
 * it: "already in use". So ports are picked at random below that range, where no outgoing
 * connection goes; only another pick can collide, and a pick checks that the port is free.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the picks come from: above the well-known and registered ports most daemons use. */
export const LOWEST_PICKED_PORT = 20_000;

/** Where the kernel's ephemeral range starts (Linux: /proc/sys/net/ipv4/ip_local_port_range), else the usual start. */
const EPHEMERAL_LOW = ((): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 0) return low;
  } catch {
    /* not Linux */
  }
  return 32_768;
})();

/** True when nothing listens on 127.0.0.1:port right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the kernel picks (listen(0)): the fallback when there is no room below the ephemeral range. */
function kernelPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The first of `count` consecutive loopback ports nobody listens on now, below the ephemeral range. */
export async function freePortRange(count: number): Promise<number> {
  const room = EPHEMERAL_LOW - LOWEST_PICKED_PORT - count;
  if (room < 1000) {
    if (count === 1) return kernelPickedPort();
    throw new Error(`no room for ${count} ports below the ephemeral range (it starts at ${EPHEMERAL_LOW})`);
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOWEST_PICKED_PORT + Math.floor(Math.random() * room);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portIsFree(p);
    if (free) return base;
  }
  throw new Error(`no ${count} free consecutive ports found between ${LOWEST_PICKED_PORT} and ${EPHEMERAL_LOW}`);
}

/** A loopback port nobody listens on now, below the ephemeral range (see above). */
export function freePort(): Promise<number> {
  return freePortRange(1);
}
