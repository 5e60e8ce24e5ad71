import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { evaluatePreconditions, hasPreconditions, ifRangeHolds } from '../../src/http/conditional.js';
import { parseRange } from '../../src/http/range.js';
import { DavPath } from '../../src/core/paths.js';
import type { Entry } from '../../src/storage/storage.js';
import { httpDate } from '../../src/props/live.js';

const MTIME = Date.UTC(2024, 4, 1, 12, 0, 0, 500); // .5 s: Last-Modified drops the fraction
const entry: Entry = { path: DavPath.of(['f.txt']), isCollection: false, size: 10, mtimeMs: MTIME, birthtimeMs: MTIME, etag: '"abc"' };
const lastModified = httpDate(MTIME);
const before = httpDate(MTIME - 60_000);
const after = httpDate(MTIME + 60_000);

const pre = (headers: IncomingHttpHeaders, e: Entry | null = entry, safe = true) => evaluatePreconditions(headers, e, safe);

t.test('no conditional headers: pass', async (t) => {
  t.equal(pre({}), 'pass');
  t.equal(hasPreconditions({}), false);
  t.equal(hasPreconditions({ 'if-match': '*' }), true);
  t.equal(hasPreconditions({ 'if-modified-since': before }), true);
});

t.test('If-Match (RFC 9110 §13.1.1): strong comparison', async (t) => {
  t.equal(pre({ 'if-match': '"abc"' }), 'pass');
  t.equal(pre({ 'if-match': '"x", "abc"' }), 'pass', 'any member of a list');
  t.equal(pre({ 'if-match': '*' }), 'pass');
  t.equal(pre({ 'if-match': '"x"' }), 'failed');
  t.equal(pre({ 'if-match': 'W/"abc"' }), 'failed', 'a weak tag never matches strongly');
  t.equal(pre({ 'if-match': '*' }, null), 'failed', '* needs a current representation');
  t.equal(pre({ 'if-match': '"abc"' }, null, false), 'failed');
  t.equal(pre({ 'if-match': 'garbage' }), 'failed');
});

t.test('If-Unmodified-Since (§13.1.4)', async (t) => {
  t.equal(pre({ 'if-unmodified-since': after }), 'pass');
  t.equal(pre({ 'if-unmodified-since': lastModified }), 'pass', 'same second: not modified since');
  t.equal(pre({ 'if-unmodified-since': before }), 'failed');
  t.equal(pre({ 'if-unmodified-since': 'not a date' }), 'pass', 'an invalid date is ignored');
  t.equal(pre({ 'if-match': '"abc"', 'if-unmodified-since': before }), 'pass', 'ignored when If-Match is present');
  t.equal(pre({ 'if-unmodified-since': before }, null, false), 'pass', 'no resource: nothing to compare');
});

t.test('If-None-Match (§13.1.2): weak comparison; 304 for GET/HEAD, 412 otherwise', async (t) => {
  t.equal(pre({ 'if-none-match': '"abc"' }), 'not-modified');
  t.equal(pre({ 'if-none-match': 'W/"abc"' }), 'not-modified', 'weak comparison');
  t.equal(pre({ 'if-none-match': '"x", "abc"' }), 'not-modified');
  t.equal(pre({ 'if-none-match': '*' }), 'not-modified');
  t.equal(pre({ 'if-none-match': '"abc"' }, entry, false), 'failed');
  t.equal(pre({ 'if-none-match': '*' }, entry, false), 'failed', 'PUT If-None-Match: * on an existing file');
  t.equal(pre({ 'if-none-match': '*' }, null, false), 'pass', 'PUT If-None-Match: * on a new file');
  t.equal(pre({ 'if-none-match': '"x"' }), 'pass');
});

t.test('If-Modified-Since (§13.1.3): GET/HEAD only, ignored beside If-None-Match', async (t) => {
  t.equal(pre({ 'if-modified-since': lastModified }), 'not-modified');
  t.equal(pre({ 'if-modified-since': after }), 'not-modified');
  t.equal(pre({ 'if-modified-since': before }), 'pass');
  t.equal(pre({ 'if-modified-since': 'yesterday-ish' }), 'pass', 'invalid date ignored');
  t.equal(pre({ 'if-modified-since': lastModified }, entry, false), 'pass', 'ignored for unsafe methods');
  t.equal(pre({ 'if-none-match': '"x"', 'if-modified-since': after }), 'pass', 'If-None-Match takes precedence');
  t.equal(pre({ 'if-modified-since': after }, null), 'pass');
});

t.test('evaluation order: If-Match failure wins over If-None-Match', async (t) => {
  t.equal(pre({ 'if-match': '"x"', 'if-none-match': '"abc"' }), 'failed');
  t.equal(pre({ 'if-unmodified-since': before, 'if-none-match': '"abc"' }), 'failed');
});

t.test('If-Range (§13.1.5)', async (t) => {
  t.equal(ifRangeHolds({}, entry, lastModified), true, 'absent: the range applies');
  t.equal(ifRangeHolds({ 'if-range': '"abc"' }, entry, lastModified), true);
  t.equal(ifRangeHolds({ 'if-range': '"old"' }, entry, lastModified), false);
  t.equal(ifRangeHolds({ 'if-range': 'W/"abc"' }, entry, lastModified), false, 'weak tags never qualify');
  t.equal(ifRangeHolds({ 'if-range': lastModified }, entry, lastModified), true);
  t.equal(ifRangeHolds({ 'if-range': before }, entry, lastModified), false);
});

t.test('single byte ranges (RFC 9110 §14.1.2)', async (t) => {
  t.equal(parseRange(undefined, 10), null);
  t.same(parseRange('bytes=0-4', 10), { start: 0, end: 4 });
  t.same(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
  t.same(parseRange('bytes=5-', 10), { start: 5, end: 9 });
  t.same(parseRange('bytes=9-9', 10), { start: 9, end: 9 });
  t.same(parseRange('bytes=8-100', 10), { start: 8, end: 9 }, 'last-pos past the end is clipped');
  t.same(parseRange('bytes=-3', 10), { start: 7, end: 9 }, 'suffix');
  t.same(parseRange('bytes=-20', 10), { start: 0, end: 9 }, 'suffix longer than the content');
  t.same(parseRange('BYTES=1-2', 10), { start: 1, end: 2 }, 'unit is case-insensitive');
  t.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  t.equal(parseRange('bytes=10-20', 10), 'unsatisfiable');
  t.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  t.equal(parseRange('bytes=0-', 0), 'unsatisfiable', 'nothing to select in an empty file');
  t.equal(parseRange('bytes=-5', 0), 'unsatisfiable');
  t.equal(parseRange('bytes=5-2', 10), null, 'invalid: ignored, whole content');
  t.equal(parseRange('bytes=0-1,3-4', 10), null, 'several ranges: whole content');
  t.equal(parseRange('items=0-1', 10), null, 'unknown unit ignored');
  t.equal(parseRange('bytes=abc', 10), null);
  t.equal(parseRange('bytes=-', 10), null);
  t.equal(parseRange('bytes=', 10), null);
});
