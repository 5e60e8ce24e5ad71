import t from 'tap';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../../src/heap-growth.js';

t.test('the heap growth is set unless the operator gave node a value', async (t) => {
  t.equal(heapGrowthFlag([]), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  t.equal(heapGrowthFlag(['--enable-source-maps', '--max-old-space-size=512']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, 'other flags do not count');
  t.equal(heapGrowthFlag(['--heap-growing-percent=50']), undefined, 'given on the command line');
  t.equal(heapGrowthFlag(['--heap_growing_percent=50']), undefined, 'with underscores');
  t.equal(heapGrowthFlag(['--heap-growing-percent-x']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, 'only that flag');
});
