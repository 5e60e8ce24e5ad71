/**
 * Test support: a private nginx (Debian's /usr/sbin/nginx) in a temporary folder, in the
 * foreground, on a free loopback port, stopped by PID when the test ends. Tests that need it skip
 * locally without nginx and fail without it under CI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir, type TapLike } from './server.js';
import { freePort } from './ports.js';

export const NGINX = '/usr/sbin/nginx';
export const hasNginx = spawnSync(NGINX, ['-v']).status === 0;
export const skipWithoutNginx = !hasNginx && process.env['CI'] !== 'true' ? 'nginx not installed' : false;

/**
 * Runs nginx with `serverBlock` (the inside of a `server {}`) listening on 127.0.0.1:port;
 * resolves once it accepts connections. `mainBlock`: lines for the main context (load_module…);
 * `httpBlock`: lines for the http context beside the server (upstream…).
 */
export async function startNginx(t: TapLike, serverBlock: string, mainBlock = '', httpBlock = ''): Promise<{ port: number; origin: string; pid: number }> {
  const dir = tempDir(t, 'fastdav-nginx-');
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${mainBlock}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${httpBlock}
  server {
    listen 127.0.0.1:${port};
    ${serverBlock}
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-e', `${dir}/error.log`, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGQUIT');
  });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return { port, origin: `http://127.0.0.1:${port}`, pid: child.pid! };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start: ${stderr}`);
}
