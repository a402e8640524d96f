"""Links inside a root that is not this process's (a container's ``/proc/PID/root``, a tree
copied for ``--root``) are followed inside it: Debian's ``sites-enabled/x.conf ->
/etc/nginx/sites-available/x.conf`` must read the tree's file, never this host's."""

from __future__ import annotations

import os
from pathlib import Path

from why502.proxies.nginx.config.load import parse_nginx, within_root


def _tree(root: Path) -> Path:
    etc = root / "etc" / "nginx"
    (etc / "sites-available").mkdir(parents=True)
    (etc / "sites-enabled").mkdir()
    (etc / "nginx.conf").write_text("events {}\nhttp {\n  include /etc/nginx/sites-enabled/*.conf;\n}\n")
    (etc / "sites-available" / "shop.conf").write_text(
        "upstream shop_in_the_tree { server 127.0.0.1:9123; }\n"
        "server { listen 80; location / { proxy_pass http://shop_in_the_tree; } }\n")
    # absolute, as Debian's ln -s makes them (and a relative one, and one that climbs too far)
    os.symlink("/etc/nginx/sites-available/shop.conf", etc / "sites-enabled" / "shop.conf")
    return etc / "nginx.conf"


def test_an_absolute_link_in_the_tree_reads_the_trees_file(tmp_path: Path) -> None:
    main = _tree(tmp_path)
    config = parse_nginx(str(main), root=str(tmp_path))
    assert "shop_in_the_tree" in config.upstreams, ([p.message for p in config.problems], config.upstreams)
    assert not [p for p in config.problems if p.severity == "error"]


def test_within_root_follows_links_inside_and_never_climbs_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    link = tmp_path / "etc/nginx/sites-enabled/shop.conf"
    assert within_root(str(tmp_path), str(link)) == str(tmp_path / "etc/nginx/sites-available/shop.conf")
    os.symlink("../sites-available/shop.conf", tmp_path / "etc/nginx/sites-enabled/rel.conf")
    assert within_root(str(tmp_path), str(tmp_path / "etc/nginx/sites-enabled/rel.conf")) == \
        str(tmp_path / "etc/nginx/sites-available/shop.conf")
    os.symlink("../../../../../../etc/passwd", tmp_path / "etc/nginx/sites-enabled/up.conf")
    assert within_root(str(tmp_path), str(tmp_path / "etc/nginx/sites-enabled/up.conf")) == \
        str(tmp_path / "etc/passwd")  # clamped at the root, as in a chroot
    os.symlink("loop.conf", tmp_path / "etc/nginx/sites-enabled/loop.conf")
    looped = str(tmp_path / "etc/nginx/sites-enabled/loop.conf")
    assert within_root(str(tmp_path), looped) == looped  # a loop: left to its open to report
