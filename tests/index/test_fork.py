"""The core's parallel work (builds, deltas) runs in a forked worker as in its parent: the
service loads the index, then forks its workers, which keep applying changes."""

from __future__ import annotations

import os
import time

from index import _core
from index.synthetic import Generator
from service.codec import incident_to_json
from service.settings import DEFAULT_INDEX_KEY

CHILD_TIMEOUT_S = 60.0


def test_a_forked_child_builds_and_applies_changes() -> None:
    incidents = list(Generator(9).incidents(1500))
    documents = [(i.incident_id, incident_to_json(i)) for i in incidents]
    snapshot, _ = _core.Snapshot.build(documents, DEFAULT_INDEX_KEY, 1)  # parallel in the parent
    view = _core.View(snapshot)
    pid = os.fork()
    if pid == 0:  # the child: a worker after the fork
        code = 1
        try:
            changed, _ = view.apply(documents[:300], [documents[400][0]], 2)
            rebuilt, _ = _core.Snapshot.build(documents, DEFAULT_INDEX_KEY, 3)
            ok = changed.incident_count == 1499 and rebuilt.incident_count == 1500
            code = 0 if ok else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child's parallel work never finished")
