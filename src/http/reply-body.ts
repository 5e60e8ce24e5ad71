/**
 * A text body that is sent whole (with Content-Length) when it stays small and streamed
 * (chunked, with backpressure) once it grows: small PROPFIND answers get a length, which some
 * clients prefer, and a 10,000-entry listing never sits in memory as one string.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { TextSink } from '../xml/multistatus.js';
import { MultistatusWriter } from '../xml/multistatus.js';
import { ClientGoneError } from './errors.js';

const FLUSH_BYTES = 64 * 1024;

export class ReplyBody implements TextSink {
  private readonly reply: FastifyReply;
  private pending: string[] = [];
  private pendingLength = 0;
  private stream: Readable | undefined;
  private resume: (() => void) | undefined;
  private gone = false;

  constructor(reply: FastifyReply, status: number, contentType: string) {
    this.reply = reply;
    reply.code(status).header('content-type', contentType);
  }

  write(chunk: string): void | Promise<void> {
    if (this.gone) throw new ClientGoneError();
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.pendingLength >= FLUSH_BYTES) return this.flush();
  }

  private flush(): void | Promise<void> {
    if (!this.stream) {
      this.stream = new Readable({ read: () => this.resume?.() });
      this.stream.on('close', () => {
        this.gone = !this.stream!.readableEnded;
        this.resume?.();
      });
      this.reply.send(this.stream);
    }
    const ok = this.stream.push(this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
    if (ok) return;
    return new Promise<void>((resolve) => {
      this.resume = () => {
        this.resume = undefined;
        resolve();
      };
    });
  }

  end(): void {
    if (this.gone) return;
    const rest = this.pending.join('');
    this.pending = [];
    if (this.stream) {
      if (rest) this.stream.push(rest);
      this.stream.push(null);
    } else {
      this.reply.header('content-length', Buffer.byteLength(rest)).send(rest);
    }
  }
}

export const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

/** Starts a 207 Multi-Status reply (RFC 4918 §13) and returns its writer. */
export async function beginMultistatus(reply: FastifyReply): Promise<MultistatusWriter> {
  const writer = new MultistatusWriter(new ReplyBody(reply, 207, XML_CONTENT_TYPE));
  await writer.begin();
  return writer;
}
