#!/usr/bin/python3
"""A slow disk on demand, for test/bench/fairness.sh: a FUSE passthrough of SRC at MNT that
sleeps MS milliseconds in every metadata call (getattr, lookups, readdir, open, create, rename,
unlink, mkdir...), as a NAS on spinning disks, a network filesystem or a cold cache would.
Data calls (read, write) are not delayed. The kernel's entry and attribute caches are off, so
every stat() from the server reaches this daemon and pays the delay. Multithreaded: calls from
several server threads overlap, like requests queued on a real disk.

usage: slowfs.py SRC MNT MS        (root: allow_other; needs Debian's python3-fusepy)
Stop it with `fusermount3 -u MNT`.
"""
import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

SLOW = {'getattr', 'readdir', 'opendir', 'open', 'create', 'access', 'readlink', 'statfs',
        'mkdir', 'unlink', 'rmdir', 'rename', 'chmod', 'truncate', 'utimens'}


class SlowPassthrough(Operations):
    def __init__(self, root, delay_s):
        self.root = os.path.realpath(root)
        self.delay_s = delay_s

    def __call__(self, op, *args):
        handler = getattr(self, op, None)
        if handler is None:
            raise FuseOSError(errno.ENOSYS)
        if op in SLOW and self.delay_s > 0:
            time.sleep(self.delay_s)  # releases the GIL: delays of several threads overlap
        return handler(*args)

    def _real(self, path):
        return self.root + path if path != '/' else self.root

    def getattr(self, path, fh=None):
        st = os.lstat(self._real(path))
        return {k: getattr(st, k) for k in ('st_mode', 'st_ino', 'st_nlink', 'st_uid', 'st_gid', 'st_size',
                                            'st_atime', 'st_mtime', 'st_ctime', 'st_blocks')}

    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise FuseOSError(errno.EACCES)

    def readlink(self, path):
        return os.readlink(self._real(path))

    def opendir(self, path):
        return 0

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._real(path))

    def statfs(self, path):
        sv = os.statvfs(self._real(path))
        return {k: getattr(sv, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail',
                                            'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))

    def rename(self, old, new):
        os.rename(self._real(old), self._real(new))

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def truncate(self, path, length, fh=None):
        os.truncate(self._real(path), length)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times)

    def open(self, path, flags):
        return os.open(self._real(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def fsync(self, path, datasync, fh):
        os.fsync(fh)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, mnt, ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    FUSE(SlowPassthrough(src, ms / 1000.0), mnt, foreground=True, nothreads=False, allow_other=True,
         use_ino=True, entry_timeout=0, attr_timeout=0, negative_timeout=0, fsname='slowfs')
