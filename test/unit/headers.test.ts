import t from 'tap';
import { parseDepth, parseLength, parseOverwrite, parseTimeout } from '../../src/http/headers.js';
import { statusThrown } from '../helpers/server.js';

t.test('Depth (RFC 4918 §10.2)', async (t) => {
  const all = [0, 1, 'infinity'] as const;
  t.equal(parseDepth(undefined, all, 'infinity'), 'infinity', 'missing means the fallback');
  t.equal(parseDepth(undefined, [0, 'infinity'], 0), 0);
  t.equal(parseDepth('0', all, 'infinity'), 0);
  t.equal(parseDepth('1', all, 'infinity'), 1);
  t.equal(parseDepth('infinity', all, 0), 'infinity');
  t.equal(parseDepth('Infinity', all, 0), 'infinity', 'case-insensitive');
  t.equal(parseDepth(' 1 ', all, 0), 1, 'surrounding whitespace ignored');
  for (const bad of ['', '2', '-1', '01', 'infinite', 'inf', '0,1', '1.0', 'one', '0 1']) {
    t.equal(statusThrown(() => parseDepth(bad, all, 0)), 400, `Depth: ${JSON.stringify(bad)} → 400`);
  }
  t.equal(statusThrown(() => parseDepth('0', ['infinity'], 'infinity')), 400, 'MOVE refuses Depth 0');
  t.equal(statusThrown(() => parseDepth('1', [0, 'infinity'], 'infinity')), 400, 'COPY/LOCK refuse Depth 1');
});

t.test('Overwrite (RFC 4918 §10.6)', async (t) => {
  t.equal(parseOverwrite(undefined), true, 'missing means T');
  t.equal(parseOverwrite('T'), true);
  t.equal(parseOverwrite('F'), false);
  t.equal(parseOverwrite(' F '), false);
  t.equal(parseOverwrite('f'), false);
  for (const bad of ['', 'X', 'TRUE', 'false', 'T,F', '1', '0']) {
    t.equal(statusThrown(() => parseOverwrite(bad)), 400, `Overwrite: ${JSON.stringify(bad)} → 400`);
  }
});

t.test('Timeout (RFC 4918 §10.7): first understood value wins, capped', async (t) => {
  const def = 3600;
  const max = 86400;
  t.equal(parseTimeout(undefined, def, max), 3600, 'missing → default');
  t.equal(parseTimeout(undefined, 100_000, max), max, 'the default itself is capped');
  t.equal(parseTimeout('Second-600', def, max), 600);
  t.equal(parseTimeout('second-600', def, max), 600, 'case-insensitive');
  t.equal(parseTimeout('Infinite', def, max), max, 'Infinite is capped to the maximum');
  t.equal(parseTimeout('Second-4100000000', def, max), max, 'a long timeout is capped');
  t.equal(parseTimeout('Second-86400', def, max), 86400);
  t.equal(parseTimeout('Second-86401', def, max), 86400);
  t.equal(parseTimeout('Second-0', def, max), 1, 'zero becomes the shortest lock');
  t.equal(parseTimeout('Infinite, Second-4100000000', def, max), max, 'litmus sends this list');
  t.equal(parseTimeout('Second-30, Infinite', def, max), 30, 'the first value is used');
  t.equal(parseTimeout('Bogus, Second-45', def, max), 45, 'unknown values are skipped');
  t.equal(parseTimeout('  Second-45  ,Infinite', def, max), 45);
  t.equal(parseTimeout('Second-', def, max), def);
  t.equal(parseTimeout('Second--5', def, max), def);
  t.equal(parseTimeout('garbage', def, max), def, 'nothing usable → default');
  t.equal(parseTimeout('', def, max), def);
  t.equal(parseTimeout('Second-120', def, 60), 60, 'a smaller configured maximum');
  const huge = parseTimeout('Second-99999999999999999999', def, max);
  t.ok(huge >= 1 && huge <= max, 'an absurd value never exceeds the maximum');
});

t.test('byte counts', async (t) => {
  t.equal(parseLength(undefined, 'X'), undefined);
  t.equal(parseLength('0', 'X'), 0);
  t.equal(parseLength('12345', 'X'), 12345);
  t.equal(parseLength(' 7 ', 'X'), 7);
  for (const bad of ['', '-1', '1.5', 'abc', '1e3', '0x10', '9999999999999999']) {
    t.equal(statusThrown(() => parseLength(bad, 'X-Expected-Entity-Length')), 400, `${JSON.stringify(bad)} → 400`);
  }
});
