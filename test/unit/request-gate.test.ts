/**
 * The request gate (src/http/request-gate.ts): heavy requests start in their order of arrival,
 * at most `limit` at a time, and none keeps its slot past `maxHoldMs`.
 */
import t from 'tap';
import { isHeavy, RequestGate } from '../../src/http/request-gate.js';

/** A piece of work that runs until `finish()` is called; `started` resolves when it begins. */
function pending(log: string[], name: string) {
  let finish!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  const work = async (): Promise<string> => {
    log.push(`start ${name}`);
    markStarted();
    await done;
    log.push(`end ${name}`);
    return name;
  };
  return { work, started, finish };
}

t.test('at most `limit` run at once, the rest start first come first served', async (t) => {
  const gate = new RequestGate(2, 60_000);
  const log: string[] = [];
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => pending(log, n));
  const runs = [a, b, c, d].map((p) => gate.run(p!.work));
  await Promise.all([a!.started, b!.started]);
  await new Promise((r) => setImmediate(r));
  t.same(log, ['start a', 'start b'], 'two run, two wait');
  b!.finish();
  await c!.started;
  t.same(log, ['start a', 'start b', 'end b', 'start c'], 'the first waiting one takes the freed slot');
  a!.finish();
  await d!.started;
  c!.finish();
  d!.finish();
  t.same(await Promise.all(runs), ['a', 'b', 'c', 'd'], 'every result comes back');
});

t.test('a request that holds its slot too long (a client that stops reading) passes it on', async (t) => {
  const gate = new RequestGate(1, 50);
  const log: string[] = [];
  const stuck = pending(log, 'stuck');
  const next = pending(log, 'next');
  const first = gate.run(stuck.work);
  const second = gate.run(next.work);
  await next.started; // would never happen without the bound: `stuck` is still running
  t.same(log, ['start stuck', 'start next'], 'the waiting request started while the first still runs');
  next.finish();
  stuck.finish();
  t.same(await Promise.all([first, second]), ['stuck', 'next']);
  // The stuck one's late end must not free a slot twice: one slot, so a third and fourth still queue.
  const log2: string[] = [];
  const three = pending(log2, 'three');
  const four = pending(log2, 'four');
  const r3 = gate.run(three.work);
  const r4 = gate.run(four.work);
  await three.started;
  await new Promise((r) => setImmediate(r));
  t.same(log2, ['start three'], 'still one at a time after a slot was passed on early');
  three.finish();
  await four.started;
  four.finish();
  await Promise.all([r3, r4]);
});

t.test('listings that never yield let the event loop turn once the budget is spent', async (t) => {
  // A listing on a fast disk runs to its end without awaiting anything that takes time; without
  // the budget every queued one ran in the same turn of the loop, and Node accepts one connection
  // per turn. Here each piece of work holds the thread for 2 ms; the budget is 5 ms, two slots.
  // A turn starts one piece per free slot, then passes slots on while the budget lasts: at most
  // 2 + ceil(5 / 2) = 5 pieces per turn.
  const gate = new RequestGate(2, 60_000, 5);
  const log: string[] = [];
  const busy = (name: string) => async (): Promise<string> => {
    log.push(name);
    const end = performance.now() + 2;
    while (performance.now() < end);
    return name;
  };
  const names = Array.from({ length: 12 }, (_, i) => `w${i}`);
  const runs = Promise.all(names.map((n) => gate.run(busy(n))));
  let finished = false;
  const ticker = (): void => {
    if (finished) return;
    log.push('turn');
    setImmediate(ticker);
  };
  setImmediate(ticker);
  t.same(await runs, names, 'every result comes back');
  finished = true;
  t.same(log.filter((e) => e !== 'turn'), names, 'first come, first served');
  const perTurn = log.join(' ').split('turn').map((s) => s.trim().split(' ').filter(Boolean).length);
  t.ok(Math.max(...perTurn) <= 5, `at most 5 pieces of 2 ms per turn (per turn: ${perTurn.join(', ')})`);
  t.ok(perTurn.filter((n) => n > 0).length >= 3, 'the work was spread over several turns');
});

t.test('requests that wait for I/O fill every free slot in one turn', async (t) => {
  // Starting one per turn starved listings and tree operations behind a stream of GETs (each
  // turn then served many GETs and one listing).
  const gate = new RequestGate(4, 60_000, 1);
  const log: string[] = [];
  const works = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => pending(log, n));
  const runs = works.map((w) => gate.run(w.work));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.same(log, ['start a', 'start b', 'start c', 'start d'], 'four slots, four started at once');
  for (const w of works) w.finish();
  t.same(await Promise.all(runs), ['a', 'b', 'c', 'd', 'e', 'f']);
});

t.test('which requests are heavy', async (t) => {
  t.equal(isHeavy('PROPFIND', { depth: '0' }), false);
  t.equal(isHeavy('PROPFIND', { depth: '1' }), true);
  t.equal(isHeavy('PROPFIND', {}), true, 'no Depth means infinity (RFC 4918 §9.1)');
  for (const m of ['COPY', 'MOVE', 'DELETE']) t.equal(isHeavy(m, {}), true, m);
  for (const m of ['GET', 'PUT', 'LOCK', 'PROPPATCH']) t.equal(isHeavy(m, {}), false, m);
});
