/**
 * SIGHUP reloads the TLS certificate and key and the account files without dropping connections,
 * and logs it (issue 11 item 13), with one process and with --workers 2 (the primary passes it on).
 * A certificate that does not load on SIGHUP is logged and the one in use stays. Runs the built
 * command (dist/cli.js) with real HTTPS connections.
 */
import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { httpsRequest, selfSigned, skipWithoutOpenssl } from '../helpers/tls.js';
import { basic, writeUsers } from '../security/support.js';

const fingerprint = (der: Buffer) => new X509Certificate(der).fingerprint256;
const fileFingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

for (const workers of ['1', '2']) {
  t.test(`SIGHUP (--workers ${workers}): new certificate and accounts for new connections, open connections kept, logged`, { skip: skipWithoutOpenssl }, async (t) => {
    const dir = tempDir(t);
    const certs = tempDir(t);
    const a = selfSigned(certs, 'a')!;
    const b = selfSigned(certs, 'b')!;
    const cert = path.join(dir, 'server.pem');
    const key = path.join(dir, 'server.key');
    copyFileSync(a.cert, cert);
    copyFileSync(a.key, key);
    const users = writeUsers(dir, { alice: 'alice-pw' });
    const root = tempDir(t);
    writeFileSync(path.join(root, 'f.txt'), 'hello');
    const s = await startCli(t, ['--port', '0', '--root', root, '--tls-cert', cert, '--tls-key', key, '--users', users, '--workers', workers]);

    const alice = { authorization: basic('alice', 'alice-pw') };
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const before = await httpsRequest(s.port, '/f.txt', alice, 'GET', agent);
    t.equal(before.status, 200);
    t.equal(fingerprint(before.peerCertificate), fileFingerprint(a.cert), 'certificate A at first');
    const kept = [...Object.values(agent.sockets).flat(), ...Object.values(agent.freeSockets).flat()][0];

    copyFileSync(b.cert, cert);
    copyFileSync(b.key, key);
    writeUsers(dir, { alice: 'alice-pw', bob: 'bob-pw' });
    process.kill(s.pid, 'SIGHUP');
    await s.waitFor(/"reloaded":\["certificate","accounts"\],"msg":"SIGHUP: files reloaded"/, Number(workers));
    t.equal(s.child.exitCode, null, 'still running (SIGHUP no longer ends it)');

    const onKept = await httpsRequest(s.port, '/f.txt', alice, 'GET', agent);
    t.equal(onKept.status, 200, 'the open connection still serves');
    t.equal(fingerprint(onKept.peerCertificate), fileFingerprint(a.cert), 'with the certificate it began with');
    const now = [...Object.values(agent.sockets).flat(), ...Object.values(agent.freeSockets).flat()][0];
    t.equal(now, kept, 'on the same connection');
    for (let i = 0; i < 4; i++) {
      const fresh = await httpsRequest(s.port, '/f.txt', { authorization: basic('bob', 'bob-pw') });
      t.equal(fresh.status, 200, `new connection ${i + 1}: bob, added to the users file, is let in`);
      t.equal(fingerprint(fresh.peerCertificate), fileFingerprint(b.cert), `new connection ${i + 1}: certificate B`);
    }

    // A certificate that does not load: logged, the one in use stays.
    writeFileSync(cert, 'not a certificate\n');
    process.kill(s.pid, 'SIGHUP');
    await s.waitFor(/certificate not reloaded, the ones in use stay: tlsCert: .* holds no PEM certificate/, Number(workers));
    const after = await httpsRequest(s.port, '/f.txt', alice);
    t.equal(after.status, 200);
    t.equal(fingerprint(after.peerCertificate), fileFingerprint(b.cert), 'certificate B still served');
    t.equal(s.child.exitCode, null);
  });
}
