/**
 * The PROPFIND listing cache's bookkeeping (src/props/listing-cache.ts): an answer is found only
 * with the fingerprint it was kept with, small and oversized answers are not kept, and the bytes
 * stay within the bound (the keys counted), least recently used out first. (That it never answers with a changed
 * listing: test/object-storage/listing-cache.test.ts.)
 */
import t from 'tap';
import { ListingCache, LISTING_CACHE_MIN_BYTES } from '../../src/props/listing-cache.js';

t.test('the listing cache', async (t) => {
  const kib = (n: number): Buffer[] => [Buffer.alloc(n * 512, 1), Buffer.alloc(n * 512, 2)];
  // Room for three 64 KiB answers under one-letter keys (a key counts its length).
  const bound = 3 * (64 * 1024 + 1);
  const cache = new ListingCache(bound);
  cache.set('small', 'f', [Buffer.alloc(LISTING_CACHE_MIN_BYTES - 1)]);
  t.notOk(cache.has('small'), 'an answer below the smallest kept size is not kept');
  cache.set('a', 'fa', kib(64));
  t.same(cache.get('a', 'fa'), kib(64), 'kept and found with its fingerprint');
  t.equal(cache.get('a', 'other'), undefined, 'another fingerprint finds nothing');
  t.ok(cache.has('a'), '…and the answer stays until replaced');
  t.equal([cache.hits, cache.misses].join(), '1,1');
  cache.set('b', 'fb', kib(64));
  cache.set('c', 'fc', kib(64));
  t.equal(cache.size, bound);
  cache.get('a', 'fa');
  cache.set('d', 'fd', kib(64));
  t.ok(cache.has('a') && !cache.has('b') && cache.has('c') && cache.has('d'), 'past the bound the least recently used goes first');
  t.equal(cache.size, bound, 'bytes stay within the bound');
  cache.set('c', 'fc2', kib(80));
  t.equal(cache.get('c', 'fc'), undefined, 'a new answer replaces the one under its key');
  t.ok(cache.get('c', 'fc2'));
  t.ok(cache.size <= bound, 'and the bound still holds');
  cache.set('huge', 'fh', kib(4 * 64));
  t.notOk(cache.has('huge'), 'an answer bigger than the whole cache is not kept');
  t.ok(cache.has('c'), '…and drives nothing out');
  // A request body as big as --max-xml-bytes allows makes a key as big: it counts against the bound.
  const bigKey = 'x'.repeat(2 * 64 * 1024);
  cache.set(bigKey, 'fk', kib(64));
  t.ok(cache.has(bigKey) && cache.size <= bound, 'a big key is kept within the bound…');
  t.ok(!cache.has('c') && !cache.has('d'), '…by driving out the two answers kept before it');
});
