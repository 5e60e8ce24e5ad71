import t from 'tap';
import { parseIfHeader, submittedTokens } from '../../src/http/if-header.js';
import { statusThrown } from '../helpers/server.js';

const tok = (value: string, not = false) => ({ not, kind: 'token', value });
const etag = (value: string, not = false) => ({ not, kind: 'etag', value });

t.test('untagged lists', async (t) => {
  t.same(parseIfHeader('(<urn:uuid:1>)'), [{ resource: null, conditions: [tok('urn:uuid:1')] }]);
  t.same(parseIfHeader('(<urn:uuid:1> ["abc"])'), [{ resource: null, conditions: [tok('urn:uuid:1'), etag('"abc"')] }]);
  t.same(parseIfHeader('(<urn:uuid:1>) (Not <DAV:no-lock>)'), [
    { resource: null, conditions: [tok('urn:uuid:1')] },
    { resource: null, conditions: [tok('DAV:no-lock', true)] },
  ]);
  t.same(parseIfHeader('(Not <urn:uuid:1> [W/"weak"])'), [{ resource: null, conditions: [tok('urn:uuid:1', true), etag('W/"weak"')] }]);
  t.same(parseIfHeader('(<DAV:no-lock> ["x"])'), [{ resource: null, conditions: [tok('DAV:no-lock'), etag('"x"')] }]);
  t.same(parseIfHeader('(NOT ["e"])'), [{ resource: null, conditions: [etag('"e"', true)] }], 'Not is case-insensitive');
  t.same(parseIfHeader('  (<a:b>)\t(<c:d>)  '), [
    { resource: null, conditions: [tok('a:b')] },
    { resource: null, conditions: [tok('c:d')] },
  ], 'whitespace between lists');
  t.same(parseIfHeader('([""])'), [{ resource: null, conditions: [etag('""')] }], 'an empty entity tag is valid');
  t.same(parseIfHeader('(<urn:uuid:1>)(<urn:uuid:2>)'), [
    { resource: null, conditions: [tok('urn:uuid:1')] },
    { resource: null, conditions: [tok('urn:uuid:2')] },
  ], 'no space between lists');
  t.same(parseIfHeader('(Not<urn:uuid:1>)'), [{ resource: null, conditions: [tok('urn:uuid:1', true)] }], 'Not directly before <');
});

t.test('tagged lists', async (t) => {
  t.same(parseIfHeader('<http://h/a> (<urn:uuid:1>)'), [{ resource: 'http://h/a', conditions: [tok('urn:uuid:1')] }]);
  t.same(parseIfHeader('</a/b> (<urn:uuid:1>) (["e"]) </c> (Not <DAV:no-lock>)'), [
    { resource: '/a/b', conditions: [tok('urn:uuid:1')] },
    { resource: '/a/b', conditions: [etag('"e"')] },
    { resource: '/c', conditions: [tok('DAV:no-lock', true)] },
  ], 'a tag applies to every list until the next tag');
  t.same(parseIfHeader('<http://www.example.com/users/f/fielding/index.html> (<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>)'), [
    { resource: 'http://www.example.com/users/f/fielding/index.html', conditions: [tok('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6')] },
  ], 'the RFC 4918 §10.4.6 example');
});

t.test('the RFC 4918 §10.4 example header parses', async (t) => {
  const lists = parseIfHeader(
    '(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> ["I am an ETag"]) (["I am another ETag"])',
  );
  t.equal(lists.length, 2);
  t.same(lists[1], { resource: null, conditions: [etag('"I am another ETag"')] });
});

t.test('submitted tokens are the non-negated state tokens', async (t) => {
  t.same([...submittedTokens(parseIfHeader('(<urn:a> ["e"]) (Not <urn:b>) (<urn:c>)'))].sort(), ['urn:a', 'urn:c']);
  t.same([...submittedTokens(parseIfHeader('</x> (<urn:a>) </y> (Not <urn:b> <urn:c>)'))].sort(), ['urn:a', 'urn:c']);
  t.same([...submittedTokens([])], []);
});

t.test('malformed headers are 400', async (t) => {
  const bad = [
    '',
    '   ',
    'garbage',
    '<urn:uuid:1>',
    '(',
    ')',
    '()',
    '( )',
    '(<urn:uuid:1>',
    '(<urn:uuid:1',
    '(<>)',
    '(<a b>)',
    '(["unterminated)',
    '([unquoted])',
    '(["e")',
    '(["a"] extra)',
    '(Not)',
    '(Not Not <a:b>)',
    '(Nota:b)',
    '(<a:b>) garbage',
    '(<a:b>) <http://h/x> (<c:d>)',
    '<http://h/x> (<a:b>) (<c:d>) (<e:f>) ()',
    '<http://h/x>',
    '<http://h/x> <http://h/y> (<a:b>)',
    '(<a:b>) (',
    '(<a:b>)) ',
    '[("e")]',
    'Not (<a:b>)',
    '(<a:<b>)',
  ];
  for (const h of bad) t.equal(statusThrown(() => parseIfHeader(h)), 400, `If: ${JSON.stringify(h)} → 400`);
});

t.test('mixing tagged and untagged lists is refused', async (t) => {
  t.equal(statusThrown(() => parseIfHeader('(<a:b>) </x> (<c:d>)')), 400);
  t.equal(statusThrown(() => parseIfHeader('</x> (<a:b>) (<c:d>)')), undefined, 'several lists under one tag are fine');
});

t.test('hostile sizes are refused quickly, not crashed on', async (t) => {
  t.equal(statusThrown(() => parseIfHeader(`(<urn:uuid:${'x'.repeat(100_000)}>)`)), 400, 'huge token');
  t.equal(statusThrown(() => parseIfHeader('(<a:b>) '.repeat(10_000))), 400, 'ten thousand lists');
  t.equal(statusThrown(() => parseIfHeader('('.repeat(50_000))), 400, 'deep open parens');
  t.equal(statusThrown(() => parseIfHeader('<'.repeat(10_000))), 400, 'many <');
  t.equal(statusThrown(() => parseIfHeader(`(["${'"'.repeat(5000)}"])`)), 400, 'quote soup');
  const many = parseIfHeader('(<urn:a>) '.repeat(200));
  t.equal(many.length, 200, 'a long but legitimate header parses');
});

t.test('garbage never throws anything but a 400', async (t) => {
  // A deterministic pseudo-random walk over the grammar's own characters.
  const alphabet = ['(', ')', '<', '>', '[', ']', '"', 'W/', 'Not ', ' ', 'urn:x', 'DAV:no-lock', 'http://h/a', '\t', 'é', '\0'];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  let failures = 0;
  for (let n = 0; n < 3000; n++) {
    let h = '';
    const len = next() % 12;
    for (let i = 0; i < len; i++) h += alphabet[next() % alphabet.length];
    try {
      const lists = parseIfHeader(h);
      // Whatever parses has the documented shape.
      for (const l of lists) if (l.conditions.length === 0) failures++;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 400) {
        failures++;
        t.fail(`If: ${JSON.stringify(h)} threw ${String(err)}`);
      }
    }
  }
  t.equal(failures, 0);
});
