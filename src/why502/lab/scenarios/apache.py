"""Apache httpd (mod_proxy) in front of real backends: nginx's root causes, Apache's messages.

mod_proxy logs a refused connect as ``(111)Connection refused: AH00957: http: attempt to connect
to HOST:PORT ... failed`` and answers 503 (modules/proxy/proxy_util.c), a missing FastCGI socket
as ``(2)No such file or directory: AH02454: FCGI: attempt to connect to Unix domain socket ...``
(503), a response slower than ``ProxyTimeout`` as ``(70007)The timeout specified has expired:
AH01102: error reading status line from remote server`` (Debian's Apache 2.4 answered 502, see
the recorded ``apache-too-slow``), and a balancer with every member in error as
``AH01170: ... All workers are in error state`` (503, mod_proxy_balancer.c).  Each scenario
starts a real ``apache2 -DFOREGROUND`` with a temp ServerRoot (Apache's lab plug-in,
``proxies/apache/lab.py``) and stops it by PID.
"""

from __future__ import annotations

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, dead_port
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="apache-backend-down",
    cause="backend-not-running",
    title="The app behind Apache is stopped",
    description="ProxyPass points at a port where nothing listens: AH00957 connection refused, 503.",
    symptoms=("connection-refused",),
    expect=(("error", r"\(111\)Connection refused: AH00957"),),
    proxy="apache",
)
def _apache_backend_down(stack: Stack, run: ScenarioRun) -> None:
    port = dead_port()
    stack.start_apache(f"ProxyPass / http://127.0.0.1:{port}/\n")
    run.steps.append(f"Apache proxies / to 127.0.0.1:{port}; nothing listens there")
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="apache-too-slow",
    cause="backend-too-slow",
    title="The app is slower than Apache's ProxyTimeout",
    description="The app takes 2 s; ProxyTimeout is 1 s: AH01102 after the timeout expired.",
    symptoms=("read-timeout",),
    expect=(("error", r"\(70007\)The timeout specified has expired: .*AH01102"),),
    proxy="apache",
)
def _apache_too_slow(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", delay=2.0)
    stack.start_apache(f"ProxyTimeout 1\nProxyPass / http://{app.address}/\n")
    run.steps.append(f"the app on {app.address} needs 2 s; ProxyTimeout 1")
    run.record("GET /", stack.requests("/", count=1))


@scenario(
    name="apache-fpm-socket-missing",
    cause="backend-not-running",
    title="PHP-FPM's socket is missing behind Apache",
    description="ProxyPassMatch sends .php to PHP-FPM's unix socket (proxy_fcgi), but PHP-FPM is "
                "not running and the socket is gone: AH02454, 503.",
    symptoms=("socket-not-found",),
    expect=(("error", r"\(2\)No such file or directory: AH02454"),),
    proxy="apache",
)
def _apache_fpm_missing(stack: Stack, run: ScenarioRun) -> None:
    sock = stack.p.run / "php8.2-fpm.sock"
    www = stack.p.root / "www"
    stack.start_apache(f'ProxyPassMatch "^/(.*\\.php)$" "unix:{sock}|fcgi://localhost{www}/$1"\n')
    run.steps.append(f"PHP-FPM should listen on {sock}; it is stopped and the socket is gone")
    run.record("GET /index.php", stack.requests("/index.php", count=2))


@scenario(
    name="apache-socket-permissions",
    cause="socket-permissions",
    title="Apache's user may not connect to PHP-FPM's socket",
    description="PHP-FPM's socket is root:root 0660; Apache's children run as www-data: "
                "(13)Permission denied: AH02454, 503.",
    symptoms=("permission-denied",),
    expect=(("error", r"\(13\)Permission denied: AH02454"),),
    needs=("root", "php-fpm"),
    proxy="apache",
)
def _apache_socket_permissions(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"listen.owner": "root", "listen.group": "root", "listen.mode": "0660"},
                             scripts=PHP_SCRIPTS)
    sock = pool.listen
    www = stack.p.root / "www"
    stack.start_apache(f'ProxyPassMatch "^/(.*\\.php)$" "unix:{sock}|fcgi://localhost{www}/$1"\n')
    run.steps.append(f"PHP-FPM socket {sock} is root:root 0660; Apache's children run as www-data")
    run.record("GET /index.php", stack.requests("/index.php", count=2))


@scenario(
    name="apache-backend-crashed",
    cause="backend-crashed",
    title="The app behind Apache dies mid-request",
    description="The app is SIGKILLed while it handles a request: Apache reads no status line "
                "(502), then the port refuses (AH00957, 503).",
    symptoms=("premature-close", "connection-refused"),
    expect=(("error", r"AH01102|AH00898|AH01084"),),
    proxy="apache",
)
def _apache_crashed(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("crash")
    stack.start_apache(f"ProxyPass / http://{app.address}/\n")
    run.steps.append(f"the app on {app.address} is killed by the first request")
    run.record("GET /", stack.requests("/", count=1))
    stack.wait_backend_exit(app)
    run.record("GET /", stack.requests("/", count=1))


@scenario(
    name="apache-balancer-all-down",
    cause="backend-not-running",
    title="Every member of Apache's balancer is in error state",
    description="Both BalancerMembers refuse; with forcerecovery=Off the balancer gives up: "
                "AH01170 All workers are in error state, 503. The members' refusals are the root "
                "cause; the balancer's error state is their consequence.",
    symptoms=("no-live-upstreams",),
    expect=(("error", r"AH01170"),),
    proxy="apache",
)
def _apache_balancer_down(stack: Stack, run: ScenarioRun) -> None:
    a, b = dead_port(), dead_port()
    stack.start_apache("<Proxy balancer://app>\n"
                       f"    BalancerMember http://127.0.0.1:{a}\n"
                       f"    BalancerMember http://127.0.0.1:{b}\n"
                       "    ProxySet forcerecovery=Off\n"
                       "</Proxy>\nProxyPass / balancer://app/\n")
    run.steps.append(f"balancer://app: members 127.0.0.1:{a} and 127.0.0.1:{b}, nothing listens")
    run.record("GET /", stack.requests("/", count=3))
