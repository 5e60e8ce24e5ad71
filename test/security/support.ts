/**
 * Support for the hostile-input tests: raw bytes on a socket (nothing normalised or refused on
 * the client side), a snapshot of everything outside the served root, account files.
 */
import net from 'node:net';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { LoginThrottle } from '../../src/auth/login-throttle.js';

export interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** Status codes of the responses, in order. */
  statuses: number[];
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Sends `data` as is on a new connection and collects what comes back until the server closes
 * or stays silent for `idleMs` after its last bytes.
 */
export function rawExchange(port: number, data: string | Buffer, options: { idleMs?: number; localAddress?: string } = {}): Promise<RawResult> {
  const idleMs = options.idleMs ?? 400;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    socket.on('connect', () => {
      socket.write(data);
      arm();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        closed = true;
        finish();
      } else reject(err);
    });
  });
}

/** One request as raw text: `method target` plus headers, and a body with its Content-Length. */
export function rawRequest(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Connection: close'];
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) lines.push('Host: 127.0.0.1');
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== '' || ['PUT', 'PROPPATCH', 'LOCK'].includes(method)) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Every name, type, mode, size, mtime and content below `dir`, except the subtrees `skip` and
 * the metadata store: what must not change outside the served root.
 */
export function snapshot(dir: string, ...skip: string[]): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    for (const name of readdirSync(p).sort()) {
      const full = path.join(p, name);
      if (skip.includes(full) || name === '.fastdav') continue;
      const st = lstatSync(full);
      const rel = path.relative(dir, full);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(full)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/ ${st.mode} ${st.mtimeMs}`);
        visit(full);
      } else out.push(`${rel} ${st.mode} ${st.size} ${st.mtimeMs} ${readFileSync(full, 'utf8')}`);
    }
  };
  visit(dir);
  return out;
}

/** A login throttle that records its delays instead of sleeping: tests stay fast. */
export function instantThrottle(): LoginThrottle {
  return new LoginThrottle({ now: () => Date.now(), sleep: async () => undefined });
}

/** Writes an htpasswd file (bcrypt, cost 4: fast tests) and returns its path. */
export function writeUsers(dir: string, users: Record<string, string>, name = 'users'): string {
  const file = path.join(dir, name);
  writeFileSync(file, Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4).replace(/^\$2b\$/, '$2y$')}\n`).join(''));
  return file;
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
