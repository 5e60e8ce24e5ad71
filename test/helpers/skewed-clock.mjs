// Preloaded into a fastdav instance under test (NODE_OPTIONS=--import=<this file>): the process's
// clock (Date.now, which the server's clock reads) runs FASTDAV_TEST_CLOCK_SKEW_MS milliseconds
// ahead, or behind when negative, like a host whose clock disagrees with the others'.
const skew = Number(process.env.FASTDAV_TEST_CLOCK_SKEW_MS ?? 0);
const realNow = Date.now;
Date.now = () => realNow() + skew;
