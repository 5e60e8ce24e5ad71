/** How node:fs error codes become HTTP statuses (RFC 4918 §9 per method; RFC 9110 §15). */
import { DavError } from '../../core/errors.js';

export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** The status for a failed filesystem call; `missing` is what ENOENT means at that point. */
export function statusForFsError(err: unknown, missing: 404 | 409 = 404): number {
  if (err instanceof DavError) return err.statusCode; // already translated (fsError)
  switch (errnoOf(err)) {
    case 'ENOENT':
      return missing;
    case 'ENOTDIR':
    case 'EISDIR': // a collection appeared where a file is being put (a concurrent MKCOL or COPY)
      return 409;
    case 'EEXIST':
    case 'ENOTEMPTY':
      return 405;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EBUSY':
    case 'ELOOP':
    case 'EINVAL':
      return 403;
    case 'ENAMETOOLONG':
      return 414;
    case 'ENOSPC':
    case 'EDQUOT':
      return 507;
    case 'EMFILE':
    case 'ENFILE':
      return 503;
    default:
      return 500;
  }
}

/** A short reason for a log line: the errno code (EACCES…), else the message. */
export function reasonOf(err: unknown): string {
  return errnoOf(err) ?? (err instanceof Error ? err.message : String(err));
}

/** Wraps a filesystem error as a DavError (DavErrors pass through unchanged). */
export function fsError(err: unknown, missing: 404 | 409 = 404): DavError {
  if (err instanceof DavError) return err;
  const status = statusForFsError(err, missing);
  const code = errnoOf(err);
  const message = status === 500 ? `storage error${code ? ` (${code})` : ''}` : describe(status);
  const e = new DavError(status, message);
  if (status === 500) e.cause = err;
  if (code !== undefined) Object.defineProperty(e, 'code', { value: code }); // for reasonOf
  return e;
}

function describe(status: number): string {
  switch (status) {
    case 404: return 'Not Found';
    case 409: return 'parent collection does not exist';
    case 405: return 'resource already exists';
    case 403: return 'permission denied';
    case 414: return 'name too long';
    case 507: return 'insufficient storage';
    case 503: return 'server busy, try again';
    default: return 'storage error';
  }
}
