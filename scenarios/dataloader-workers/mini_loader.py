"""A small replica of the multiprocess path of torch.utils.data.DataLoader.

Only what decides which memory pages a worker writes is kept: workers are forked
(they share the parent's heap, copy-on-write, as torch's default "fork" start method on
Linux does), each has its own index queue, all answer on one result queue,
`prefetch_factor` batches are in flight per worker, batches come back in order through a
reorder buffer keyed by batch index, and `persistent_workers` keeps the same processes
across epochs instead of forking new ones at every epoch. Collation runs in the parent
(torch runs `collate_fn` in the worker); it changes no page a worker writes.

`num_workers=0` loads in the calling process, like torch.
"""

import itertools
import multiprocessing
import os
import queue
import random
import signal
import threading
import traceback

# How often a worker waiting for work checks that its parent is alive, and how often the
# parent waiting for a batch checks that its workers are (torch: MP_STATUS_CHECK_INTERVAL).
STATUS_CHECK_S = 1.0
# How long a shut-down worker gets to exit after its sentinel before it is terminated.
JOIN_TIMEOUT_S = 5.0


def batches_of(num_items, batch_size, shuffle, rng):
    """One epoch of index batches (torch's BatchSampler over a Sequential or
    RandomSampler, drop_last=False)."""
    order = list(range(num_items)) if shuffle else range(num_items)
    if shuffle:
        rng.shuffle(order)
    for start in range(0, num_items, batch_size):
        yield list(order[start:start + batch_size])


def _worker_loop(dataset, index_queue, result_queue, parent_pid, worker_id):
    """Fetch the samples of each batch index list sent to this worker.

    Exits on the sentinel (None), or when the parent is gone: an orphan would otherwise
    wait forever and keep its private copies of the dataset's pages.
    """
    # Ctrl-C reaches the whole process group; the parent shuts the workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = index_queue.get(timeout=STATUS_CHECK_S)
        except queue.Empty:
            if os.getppid() != parent_pid:
                break
            continue
        if task is None:
            break
        batch_index, indices = task
        try:
            result = (batch_index, [dataset[i] for i in indices], None)
        except Exception:  # sent to the parent, which raises it, as torch's ExceptionWrapper
            result = (batch_index, None, f"in DataLoader worker {worker_id}:\n{traceback.format_exc()}")
        result_queue.put(result)
    # Results nobody will read must not block the exit (an orphan's would, forever).
    result_queue.cancel_join_thread()


class WorkerError(RuntimeError):
    """A worker died or its dataset raised."""


class _WorkerPool:
    """The forked workers and their queues: one epoch's, or the whole run's when
    persistent."""

    def __init__(self, dataset, num_workers):
        context = multiprocessing.get_context("fork")
        self.result_queue = context.Queue()
        self.index_queues = [context.Queue() for _ in range(num_workers)]
        self.processes = [
            context.Process(
                target=_worker_loop,
                args=(dataset, index_queue, self.result_queue, os.getpid(), worker_id),
                name=f"loader-worker-{worker_id}",
                daemon=True,
            )
            for worker_id, index_queue in enumerate(self.index_queues)
        ]
        for process in self.processes:
            process.start()
        self._previous_sigchld = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigchld = signal.signal(signal.SIGCHLD, self._on_sigchld)

    def _on_sigchld(self, signum, frame):
        """Raise in the main thread when a worker dies (torch's SIGCHLD handler): one killed
        while writing a batch leaves half a message in the result pipe, and the parent's
        read of the rest would never return."""
        self._raise_if_a_worker_exited()

    def _raise_if_a_worker_exited(self):
        """Before shutdown, any worker exit is unexpected."""
        for process in self.processes:
            if process.exitcode is not None:
                raise WorkerError(f"DataLoader worker (pid {process.pid}) exited unexpectedly "
                                  f"with exit code {process.exitcode}") from None

    def run_epoch(self, batches, prefetch_factor):
        """Yield each batch's sample list in batch order.

        Batch k goes to worker k mod N (the cycle restarts every epoch, as in torch), and
        the next batch is sent as soon as one is received, so each worker has
        `prefetch_factor` batches queued or in progress.
        """
        pending = enumerate(batches)
        workers = itertools.cycle(range(len(self.processes)))
        sent = received = 0
        arrived = {}  # the reorder buffer: batch index -> samples

        def send_next():
            nonlocal sent
            task = next(pending, None)
            if task is not None:
                self.index_queues[next(workers)].put(task)
                sent += 1

        for _ in range(prefetch_factor * len(self.processes)):
            send_next()
        while received < sent:
            while received not in arrived:
                batch_index, samples = self._get()
                arrived[batch_index] = samples
            samples = arrived.pop(received)
            received += 1
            send_next()
            yield samples

    def _get(self):
        """The next result from any worker; raises if a worker died or its dataset raised."""
        while True:
            try:
                batch_index, samples, error = self.result_queue.get(timeout=STATUS_CHECK_S)
            except queue.Empty:
                self._raise_if_a_worker_exited()
                continue
            if error is not None:
                raise WorkerError(f"Caught an exception {error}")
            return batch_index, samples

    def shutdown(self):
        """Sentinels, a bounded join, then terminate whoever is left. Worker exits are
        expected from here on, so the SIGCHLD handler goes first."""
        if self._previous_sigchld is not None:
            signal.signal(signal.SIGCHLD, self._previous_sigchld)
        for index_queue, process in zip(self.index_queues, self.processes):
            if process.is_alive():
                index_queue.put(None)
        for process in self.processes:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join()
        for index_queue in self.index_queues:
            index_queue.cancel_join_thread()
            index_queue.close()
        self.result_queue.close()


class DataLoader:
    """Iterate over it once per epoch; each iteration yields collated batches in order.

    Close it (or use it as a context manager) to stop persistent workers.
    """

    def __init__(self, dataset, *, batch_size, collate_fn, num_workers=0, prefetch_factor=2,
                 persistent_workers=False, shuffle=False, seed=0):
        self.dataset = dataset
        self.batch_size = batch_size
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.shuffle = shuffle
        self.rng = random.Random(seed)
        self._pool = None

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        batches = batches_of(len(self.dataset), self.batch_size, self.shuffle, self.rng)
        if self.num_workers == 0:
            for indices in batches:
                yield self.collate_fn([self.dataset[i] for i in indices])
            return
        if self._pool is None:
            self._pool = _WorkerPool(self.dataset, self.num_workers)
        finished = False
        try:
            for samples in self._pool.run_epoch(batches, self.prefetch_factor):
                yield self.collate_fn(samples)
            finished = True
        finally:
            # An epoch left early still has batches in flight that the next one would
            # receive, so its workers go too (torch discards such stale batches instead).
            if not (finished and self.persistent_workers):
                self.close()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
