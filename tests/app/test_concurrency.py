"""The dashboard's reader keeps working while an enrichment job writes to the store."""

import subprocess
import sys
import textwrap
import time

import pytest

from workbench.app.queries import Reader

pytestmark = pytest.mark.slow


def test_reads_succeed_while_a_job_runs(app_store):
    script = textwrap.dedent(f"""
        import json, time
        from workbench.augment.engine import SamplingSettings
        from workbench.augment.jobs import JobRunner
        from workbench.profiles.items import ItemProfilesJob
        from workbench.store import Store
        from tests.augment.fakes import FakeEngine

        def slow(conversation, attempt):
            time.sleep(0.1)  # an LLM at work: 0.4 s per chunk of 4
            return json.dumps({{"summary": "s", "reasoning": "r"}})

        with Store.open({str(app_store)!r}) as store:
            print("started", flush=True)
            JobRunner(store, FakeEngine(slow), SamplingSettings(), "fake",
                      chunk_size=4).run(ItemProfilesJob(), store.dataset())
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    reader = Reader(app_store, timeout_s=10)
    seen = []
    while proc.poll() is None:
        seen.append(reader.value("SELECT count(*) FROM profiles WHERE entity = 'item'"))
        time.sleep(0.05)
    assert proc.wait() == 0
    assert reader.value("SELECT count(*) FROM profiles WHERE entity = 'item'") == 24
    # reads landed while the job ran, and saw its committed chunks grow
    assert len(seen) >= 3
    assert seen == sorted(seen) and seen[-1] > seen[0]
