import t from 'tap';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../../src/heap-growth.js';

t.test('the heap growth is set unless the operator gave node a value', async (t) => {
  t.equal(heapGrowthFlag([], undefined), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  t.equal(heapGrowthFlag(['--enable-source-maps', '--max-old-space-size=512'], '--trace-warnings'), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, 'other flags do not count');
  t.equal(heapGrowthFlag(['--heap-growing-percent=50'], undefined), undefined, 'on the command line');
  t.equal(heapGrowthFlag(['--heap_growing_percent=50'], undefined), undefined, 'with underscores');
  t.equal(heapGrowthFlag([], '--enable-source-maps --heap-growing-percent=0'), undefined, 'in NODE_OPTIONS');
  t.equal(heapGrowthFlag(['--heap-growing-percent-x'], undefined), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, 'only that flag');
});
