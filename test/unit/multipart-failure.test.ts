/**
 * uploadStream (src/blobs/s3/multipart.ts) when a part fails, against a stand-in S3 client that
 * records every command: the other parts' requests are abandoned at once (their abort signal
 * fires) instead of being waited for, the upload is aborted, and the caller hears the failing
 * part's own error, not the abandoned ones'.
 */
import t from 'tap';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { uploadStream } from '../../src/blobs/s3/multipart.js';

const PART = 1024 * 1024;

t.test('the first failing part abandons the others and aborts the upload', async (t) => {
  const sent: string[] = [];
  const abandoned: number[] = [];
  let storeBroke: () => void = () => undefined;
  const broken = new Promise<void>((resolve) => (storeBroke = resolve));
  const client = {
    async send(command: { constructor: { name: string }; input: { PartNumber?: number } }, options?: { abortSignal?: AbortSignal }) {
      const name = command.constructor.name;
      sent.push(name === 'UploadPartCommand' ? `part ${command.input.PartNumber}` : name);
      if (name === 'CreateMultipartUploadCommand') return { UploadId: 'u1' };
      if (name === 'AbortMultipartUploadCommand') return {};
      if (name !== 'UploadPartCommand') throw new Error(`unexpected ${name}`);
      const part = command.input.PartNumber!;
      if (part === 3) {
        // Fails once parts 1 and 2 are on their way: a store that gave up on this one.
        await new Promise((resolve) => setTimeout(resolve, 20));
        storeBroke();
        throw Object.assign(new Error('part 3: the store failed'), { name: 'TimeoutError' });
      }
      // The others hang, as against a store that answers nothing, until abandoned.
      await new Promise<void>((_, reject) => {
        const signal = options?.abortSignal;
        signal?.addEventListener('abort', () => {
          abandoned.push(part);
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        });
      });
      return { ETag: `"${part}"` };
    },
  } as unknown as S3Client;
  const body = Readable.from((function* () {
    for (let i = 0; i < 8; i++) yield Buffer.alloc(PART, i);
  })());
  const upload = uploadStream({ client, bucket: 'b', key: 'k' }, body, PART, 3, 8 * PART);
  // Without the abandoning, parts 1 and 2 would hang for good: fail plainly rather than wait.
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    upload.then(() => 'resolved', (err: Error) => err.message),
    broken.then(() => new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting 5 s after the failure'), 5000)))),
  ]);
  clearTimeout(timer);
  t.equal(outcome, 'part 3: the store failed', "the failing part's own error");
  t.same(abandoned.sort(), [1, 2], 'the parts in flight were abandoned');
  t.same(sent.slice(0, 4), ['CreateMultipartUploadCommand', 'part 1', 'part 2', 'part 3']);
  t.equal(sent.at(-1), 'AbortMultipartUploadCommand', 'the multipart upload aborted');
  t.notOk(sent.includes('part 4'), 'no part sent after the failure');
});
