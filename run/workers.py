"""Worker processes that predict chunks: started clean, from any script, and never outliving
the process that started them.

    pool = worker_pool(4)          # a concurrent.futures.ProcessPoolExecutor
    future = pool.submit(fn, *args)

* **Spawned, not forked**: a parent that trained with OpenMP (LightGBM) or torch threads
  cannot be forked safely; each worker starts clean and loads the saved model once.
* **From any script**: a spawned worker normally runs the parent's main script again (as
  ``__mp_main__``), so a script without ``if __name__ == "__main__":`` would start the whole
  prediction again in every worker and the pool would break. The workers need only the kit's
  modules, so they are started without the parent's main module.
* **Dying with their parent**: each worker watches its parent process and exits when it is
  gone (killed with SIGKILL, say), instead of living on with its share of the memory.
"""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing.context
import multiprocessing.popen_spawn_posix
import multiprocessing.spawn
import os
import threading
import time

PARENT_CHECK_SECONDS = 0.5  # how often a worker looks for its parent
_LAUNCH = threading.Lock()  # one launch at a time swaps the preparation data below


def worker_pool(workers: int) -> futures.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, started without the parent's main module and
    watching their parent."""
    return futures.ProcessPoolExecutor(workers, mp_context=_WorkerContext(),
                                       initializer=_watch_parent, initargs=(os.getpid(),))


def _watch_parent(parent: int) -> None:
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)  # the parent is gone: its work is lost, so is this worker's
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _without_main(name: str) -> dict:
    data = _PREPARATION(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


_PREPARATION = multiprocessing.spawn.get_preparation_data


class _Popen(multiprocessing.popen_spawn_posix.Popen):
    def _launch(self, process_obj):
        # multiprocessing reads spawn.get_preparation_data at launch time: swapped for this
        # launch only, under a lock, so no other process of the program is started without
        # its main module.
        with _LAUNCH:
            multiprocessing.spawn.get_preparation_data = _without_main
            try:
                super()._launch(process_obj)
            finally:
                multiprocessing.spawn.get_preparation_data = _PREPARATION


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj):
        return _Popen(process_obj)


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess
