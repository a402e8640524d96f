"""The indexed lookups of ``ApacheConfig`` (a directive's virtual host, the setting in effect)
answer what the walk over every block and directive answered: the first block read that holds
the line, the last directive of a name in its virtual host -- also for odd configs (a file
included twice, a block never closed).  The walk was quadratic in the number of virtual hosts;
its time is measured in bench/config_scale.py, never here."""

from __future__ import annotations

from pathlib import Path

from why502.proxies.apache.config import ApacheConfig, Directive, VHostBlock, load_apache


def _walk_block(cfg: ApacheConfig, d: Directive) -> VHostBlock | None:
    """The definition: the first block in the order read whose lines hold ``d``."""
    for b in cfg.vhost_blocks:
        if b.file == d.file and b.line <= d.line and (b.end == 0 or d.line <= b.end):
            return b
    return None


def test_the_block_of_every_directive_is_the_first_one_read_that_holds_it(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text("<VirtualHost *:80>\n  ServerName inc.example\n  Timeout 7\n</VirtualHost>\n")
    (tmp_path / "open.conf").write_text("<VirtualHost *:81>\n  ServerName open.example\n  Timeout 9\n")
    main = tmp_path / "apache2.conf"
    main.write_text("Timeout 30\n" + "".join(
        f"<VirtualHost *:80>\n  ServerName s{i}.example\n  Timeout {i + 1}\n"
        f"  ProxyPass / http://127.0.0.1:{9000 + i}/\n</VirtualHost>\n" for i in range(30))
        + f"Include {site}\nInclude {site}\nInclude {tmp_path / 'open.conf'}\n")
    cfg = load_apache(str(main))
    assert len(cfg.vhost_blocks) == 33
    for d in cfg.directives:
        assert cfg._block(d) is _walk_block(cfg, d), d
    timeouts = {cfg.vhost_of(t.directive): cfg.timeout(t).value for t in cfg.targets()}
    assert timeouts == {f"s{i}.example": str(i + 1) for i in range(30)}
    expected = ["30", *(str(i + 1) for i in range(30)), "7", "7", "9"]
    assert [d.args[0] for d in cfg.values("Timeout")] == expected
