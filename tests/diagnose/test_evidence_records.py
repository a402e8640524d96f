"""``Evidence`` is a few grouped records, each with proxy-neutral names (issue 23, item 3).

The analyzers read one object; a flat field added next to the records, or a record field named
after one proxy (``nginx_user``), would bring back the shape this replaced.
"""

from __future__ import annotations

import dataclasses

from why502.evidence.appservers import AppServerEvidence
from why502.evidence.model import (
    ConfigFacts,
    EdgeFacts,
    Evidence,
    HostFacts,
    LiveFacts,
    LogFacts,
    RunClock,
)
from why502.proxies import PROXIES


def test_evidence_is_the_proxy_and_six_records() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(Evidence)}
    # apps: the app servers behind the proxy (issue 25 item 5), filled by app.diagnose.appservers;
    # k8s: the Kubernetes objects of --k8s (issue 24 item 4), filled by app.diagnose.gather.read_k8s;
    # edge: a load balancer's / edge proxy's log (issue 23 item 2), filled by app.diagnose.lb
    assert list(fields) == ["proxy", "config", "logs", "host", "live", "clock", "apps", "k8s", "edge"]


def test_no_record_field_is_named_after_a_proxy() -> None:
    names = [f.name for record in (ConfigFacts, LogFacts, HostFacts, LiveFacts, RunClock,
                                   AppServerEvidence, EdgeFacts)
             for f in dataclasses.fields(record)]
    for proxy in PROXIES:
        assert not [n for n in names if proxy in n], proxy


def test_all_events_joins_logs_and_host_in_time_order() -> None:
    from datetime import datetime

    from why502.evidence.model import LogEvent

    a = LogEvent(kind="oom-kill", text="a", time=datetime(2026, 1, 1, 0, 0, 2))
    b = LogEvent(kind="unit-restart", text="b", time=datetime(2026, 1, 1, 0, 0, 1))
    c = LogEvent(kind="oom-kill", text="c", time=datetime(2026, 1, 1, 0, 0, 2))
    ev = Evidence(logs=LogFacts(events=(a,)), host=HostFacts(events=(b, c)))
    assert [e.text for e in ev.all_events] == ["b", "a", "c"]  # equal times: the logs' first
