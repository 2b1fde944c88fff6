"""A few separate, niced processes for CPU-heavy jobs, each job bounded in memory and time.

Why processes: under the gevent worker a job that holds the GIL (reading a workbook,
checking a file's parts) slows every rider served by that worker, even in a native thread,
and a job that eats memory takes the worker down with it. A child process runs at
``nice 19`` (the kernel gives the riders' workers the CPU first), under ``RLIMIT_AS`` (the
job's memory allowance above what the child needs to start) and a wall-clock limit (the
parent kills it). The parent waits for the answer with ``select``, which gevent makes
cooperative: the worker's event loop goes on serving riders meanwhile.

How: each child is ``python workpool.py`` (this file run as a script, so it imports no web
code), fed length-prefixed pickles ``(function, args, kwargs)`` on its stdin and answering
``("ok", result)`` or ``("error", exception)`` on its stdout. A child serves job after job;
a killed one (time limit, memory, crash) is replaced by a new one on the next job. How many
jobs run at once is the caller's business (``webmap.core.gates``: slots and a queue per kind
of work); the pool starts a child per concurrent job up to ``processes`` and refuses beyond.

Errors: a job over its time limit or memory allowance raises ``JobLimitError`` naming the
limit (the caller turns it into a 4xx/503 message, never a 500); an exception the job raised
is re-raised as is.

Hand-written rather than ``concurrent.futures.ProcessPoolExecutor``/``multiprocessing.Pool``:
those manage their processes from helper threads, which gevent turns into greenlets that
block the event loop on pipe reads, and they cannot kill one job that runs too long.
``scripts/load_abuse.py --pool 0`` runs the same attacks with the jobs in threads instead,
for comparison.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time

HEADER = struct.Struct("!Q")


class JobLimitError(Exception):
    """A job went over its time limit or memory allowance and was stopped."""

    def __init__(self, limit: str, value: float):
        self.limit, self.value = limit, value  # "time" (seconds) or "memory" (MiB)
        super().__init__(f"job stopped: over its {limit} limit ({value:g} {'s' if limit == 'time' else 'MiB'})")


class PoolFullError(Exception):
    """Every process of the pool is busy."""


# -- the parent's side --------------------------------------------------------------------


class _Child:
    def __init__(self, memory_mb: float, preload: tuple[str, ...]):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(float(memory_mb)), *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        self.to_child, self.from_child = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self.to_child, False)
        os.set_blocking(self.from_child, False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def send(self, data: bytes, deadline: float) -> bool:
        view = memoryview(HEADER.pack(len(data)) + data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _, writable, _ = select.select([], [self.to_child], [], left)
            if writable:
                try:
                    view = view[os.write(self.to_child, view):]
                except BlockingIOError:
                    continue
        return True

    def receive(self, deadline: float) -> bytes | None:
        """The child's whole answer; ``None`` when the deadline passed; ``EOFError`` when it died."""
        return _receive(self.from_child, deadline)


def _receive(fd: int, deadline: float) -> bytes | None:
    """One length-prefixed message from ``fd`` (non-blocking); ``None`` past ``deadline``; ``EOFError`` at its end."""
    buffer, need = bytearray(), None
    while need is None or len(buffer) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            continue
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError("the job's process ended")
        buffer += chunk
        if need is None and len(buffer) >= HEADER.size:
            need = HEADER.size + HEADER.unpack_from(buffer)[0]
    return bytes(buffer[HEADER.size:need])


class WorkPool:
    """At most ``processes`` children at ``nice 19``, each job ≤ ``memory_mb`` MiB and ≤ ``time_s`` seconds."""

    def __init__(self, processes: int, memory_mb: float, time_s: float, preload: tuple[str, ...] = ()):
        self.processes = max(1, int(processes))
        self.memory_mb, self.time_s, self.preload = float(memory_mb), float(time_s), tuple(preload)
        self._idle: list[_Child] = []
        self._busy = 0
        self._lock = threading.Lock()

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive():
                    self._busy += 1
                    return child
                child.kill()
            if self._busy >= self.processes:
                raise PoolFullError(f"all {self.processes} processes busy")
            self._busy += 1
        try:
            return _Child(self.memory_mb, self.preload)
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise

    def _give_back(self, child: _Child, healthy: bool) -> None:
        if not healthy:
            child.kill()
        with self._lock:
            self._busy -= 1
            if healthy:
                self._idle.append(child)

    def run(self, job, *args, **kwargs):
        """``job(*args, **kwargs)`` in a child; its result, its exception, or ``JobLimitError``."""
        data = pickle.dumps((job, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        child = self._take()
        healthy = False
        try:
            deadline = time.monotonic() + self.time_s
            if not child.send(data, deadline):
                raise JobLimitError("time", self.time_s)
            try:
                answer = child.receive(deadline)
            except EOFError:
                # The child died mid-job: the allocator's failure under RLIMIT_AS often ends a
                # process in a C library (abort, segfault) rather than as a MemoryError.
                raise JobLimitError("memory", self.memory_mb) from None
            if answer is None:
                raise JobLimitError("time", self.time_s)
            healthy = True
            return _unpack(answer, self.memory_mb)
        finally:
            self._give_back(child, healthy)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()


def run_forked(job, args: tuple, kwargs: dict, memory_mb: float, time_s: float):
    """``job(*args, **kwargs)`` in a child forked from this process for this job alone.

    For work that needs what this process holds in memory (the registry, its indexes and
    planning caches) and would cost more to send to a pool than to compute: the child sees it
    all, copy-on-write, and sends back only the pickled result. Niced, ``memory_mb`` above what
    the child starts with, ``time_s`` of wall-clock (then killed); ``JobLimitError`` beyond.
    Under gevent ``os.fork`` and ``select`` are gevent's: the worker's loop goes on meanwhile.
    Call it from the event loop's thread (``fork`` copies only the calling thread).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, answer, leave without running the parent's exit handlers
        code = 0
        try:
            os.close(read_fd)
            os.nice(19)
            import resource

            allowance = _address_space_bytes() + int(memory_mb * 2**20)
            resource.setrlimit(resource.RLIMIT_AS, (allowance, allowance))
            data = _answer(job, args, kwargs)
            view = memoryview(HEADER.pack(len(data)) + data)
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: BLE001 - nothing may escape into the parent's code
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    finished = False
    try:
        try:
            answer = _receive(read_fd, time.monotonic() + time_s)
        except EOFError:
            raise JobLimitError("memory", memory_mb) from None
        if answer is None:
            raise JobLimitError("time", time_s)
        finished = True
        return _unpack(answer, memory_mb)
    finally:
        os.close(read_fd)
        if not finished:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)


def _answer(job, args, kwargs) -> bytes:
    """The pickled ``("ok", result)``, ``("memory", None)`` or ``("error", exception)`` of a job."""
    try:
        answer = ("ok", job(*args, **kwargs))
    except MemoryError:
        answer = ("memory", None)
    except Exception as exc:  # noqa: BLE001 - the parent re-raises it
        answer = ("error", exc)
    try:
        return pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("memory", None))
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
        return pickle.dumps(("error", RuntimeError(f"unpicklable answer: {exc!r}")))


def _unpack(answer: bytes, memory_mb: float):
    status, value = pickle.loads(answer)  # noqa: S301 - our own child's answer
    if status == "memory":
        raise JobLimitError("memory", memory_mb)
    if status == "error":
        raise value
    return value


_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(processes: int, memory_mb: float, time_s: float, preload: tuple[str, ...] = ()) -> WorkPool:
    """This process's pool with these settings (apps built alike in one process, e.g. in tests, share
    one); its children end with the process (their stdin closes) or at exit."""
    key = (os.getpid(), int(processes), float(memory_mb), float(time_s), tuple(preload))
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None:
            pool = _SHARED[key] = WorkPool(processes, memory_mb, time_s, preload)
        return pool


@atexit.register
def _close_shared() -> None:
    for (pid, *_), pool in list(_SHARED.items()):
        if pid == os.getpid():
            pool.close()


# -- the child's side ---------------------------------------------------------------------


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return data


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _raise(exc: BaseException):
    raise exc


def child_main(argv: list[str]) -> None:
    import importlib
    import resource

    memory_mb, preload = float(argv[0]), argv[1:]
    os.nice(19)
    for module in preload:
        importlib.import_module(module)
    allowance = _address_space_bytes() + int(memory_mb * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (allowance, allowance))
    # Answers go to the original stdout; anything the job prints goes to stderr instead.
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    while True:
        try:
            size = HEADER.unpack(_read_exactly(source, HEADER.size))[0]
            data = _read_exactly(source, size)
        except EOFError:
            return
        try:
            job, args, kwargs = pickle.loads(data)  # noqa: S301 - from our own parent
        except Exception as exc:  # noqa: BLE001 - e.g. a job this process cannot import
            job, args, kwargs = _raise, (exc,), {}
        del data
        data = _answer(job, args, kwargs)
        sink.write(HEADER.pack(len(data)) + data)
        sink.flush()


if __name__ == "__main__":
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
    child_main(sys.argv[1:])
