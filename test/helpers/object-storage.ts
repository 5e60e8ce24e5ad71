/**
 * Test support for object storage (src/storage/catalog): one private PostgreSQL and one private
 * radosgw per test file, and fastdav servers on them, each with its own database and key prefix.
 * Skips with a message when PostgreSQL or Ceph is missing; under CI=true that is a failure.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Config } from '../../src/config.js';
import { storedThroughHttp, type ClientTarget } from '../clients/client-kit.js';
import { clusterPrerequisites, startCluster, type Cluster, type ClusterOptions } from './cluster.js';
import { postgresSkipReason, sharedPostgres } from './postgres.js';
import { rgwUnavailable, startRgw, type RgwOptions, type S3Endpoint } from './rgw.js';
import { startServer, type TapLike, type TestServer } from './server.js';

export interface ObjectStorageEngines {
  readonly s3: S3Endpoint;
  /** A fresh database's URL. */
  database(): Promise<string>;
  /** Settings for a server on a fresh database and key prefix (or the given ones). */
  settings(databaseUrl?: string, prefix?: string): Promise<Partial<Config>>;
  /** Keys in the bucket under `prefix`. */
  objects(prefix: string): Promise<string[]>;
}

/** Why object storage cannot be tested here, or false. */
export function objectStorageUnavailable(t: TapLike & { fail(message: string): void }): string | false {
  return postgresSkipReason() || rgwUnavailable(t);
}

let prefixes = 0;

/** Starts radosgw for this test (PostgreSQL is shared by the test process) and points the AWS variables at it. */
export async function startEngines(t: TapLike & { fail(message: string): void }, rgw: RgwOptions = {}): Promise<ObjectStorageEngines> {
  const [s3, pg] = await Promise.all([startRgw(t, rgw), sharedPostgres()]);
  // The server takes credentials and region from the standard AWS variables, as in production.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region });
  const database = () => pg.createDatabase();
  return {
    s3,
    database,
    async settings(databaseUrl, prefix) {
      return {
        metadataUrl: databaseUrl ?? (await database()),
        s3Bucket: s3.bucket,
        s3Endpoint: s3.endpoint,
        s3Prefix: prefix ?? `t${++prefixes}/`,
      };
    },
    async objects(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const r = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
        keys.push(...(r.Contents ?? []).map((o) => o.Key!));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}

/** A fastdav server in object-storage mode on a fresh database and prefix. */
export async function startObjectStorageServer(t: TapLike, engines: ObjectStorageEngines, overrides: Partial<Config> = {}): Promise<TestServer> {
  return startServer(t, { ...(await engines.settings()), ...overrides });
}


/** Why three instances in object-storage mode behind HAProxy cannot be tested here, or false. */
export function objectStorageClusterUnavailable(t: TapLike & { fail(message: string): void }): string | false {
  return clusterPrerequisites(t) || rgwUnavailable(t);
}

/**
 * Three instances (test/helpers/cluster.ts) in object-storage mode behind HAProxy: one
 * PostgreSQL database for the tree, one private radosgw whose bucket holds the contents under
 * the key prefix `cluster/`.
 */
export async function startObjectStorageCluster(t: TapLike, options: ClusterOptions = {}): Promise<Cluster & { s3: S3Endpoint }> {
  const s3 = await startRgw(t);
  // s3.env: the standard AWS variables, FASTDAV_S3_ENDPOINT and FASTDAV_S3_BUCKET.
  const cluster = await startCluster(t, { ...options, args: ['--s3-prefix', 'cluster/', ...(options.args ?? [])], env: { ...s3.env, ...options.env } });
  return { ...cluster, s3 };
}

/** --quota-bytes of the instances test/clients/ run against (RFC 4331 figures need one in object-storage mode). */
const CLIENTS_QUOTA_BYTES = 4 * 1024 ** 3;

/** For test/clients/ run in object-storage mode: what the client stored is checked through the balancer. */
export async function objectStorageClusterForClients(t: TapLike, options: { prefix?: string }): Promise<ClientTarget> {
  const cluster = await startObjectStorageCluster(t, { ...options, args: ['--quota-bytes', String(CLIENTS_QUOTA_BYTES)] });
  return { ...cluster, stored: storedThroughHttp(cluster.origin, options.prefix ?? '/', CLIENTS_QUOTA_BYTES) };
}
