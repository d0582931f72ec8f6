"""Real mail servers for the inbox tests: Dovecot IMAP (with Pigeonhole Sieve) and Postfix,
from the Debian packages, started in a temporary folder on free ports, without systemd.

Dovecot runs in the foreground (`dovecot -F -c CONF`) as a child of the test;
Postfix is started with `postfix -c CONFDIR start` on its own queue directory
and stopped with `postfix -c CONFDIR stop`.  Both need root (CI runs as root):
mail is owned by root, so `first_valid_uid = 0`.  Postfix delivers to the
test domain through dovecot-lda, which runs Sieve (a `vacation` rule answers
with a real RFC 3834 auto-reply) and files the mail into Maildirs that
Dovecot serves over IMAP; mail to an unknown user gets Postfix's own DSN.

No test lives here.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from .ports import free_port  # noqa: F401 - the tests import it from here too

PASSWORD = "imap-test-password-1"


def wait_port(port: int, proc: subprocess.Popen | None = None, deadline: float = 30.0) -> None:
    """Until something accepts on 127.0.0.1:port (the deadline is a safety net only)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def available() -> str | None:
    """Why the servers cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "the mail servers run as root"
    for tool in ("/usr/sbin/dovecot", "/usr/sbin/postfix", "/usr/lib/dovecot/dovecot-lda",
                 "/usr/lib/dovecot/modules/lib90_sieve_plugin.so"):
        if not Path(tool).exists():
            return f"{tool} is not installed (apt-get install postfix dovecot-imapd dovecot-sieve)"
    return None


DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = fsltest-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{root}/mail/%n
mail_privileged_group =
default_login_user = dovenull
default_internal_user = dovecot
postmaster_address = postmaster@{domain}
hostname = mx.{domain}
recipient_delimiter = +
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol lda {{
  mail_plugins = sieve
  log_path = {root}/lda.log
}}
plugin {{
  sieve = file:{root}/sieve/%n;active={root}/sieve/%n.sieve
  sieve_vacation_min_period = 0
  sieve_vacation_dont_check_recipient = yes
}}
submission_host = 127.0.0.1:{smtp_port}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """Dovecot IMAP on 127.0.0.1:port, users in a passwd file, mail in Maildirs under `root`."""

    def __init__(self, root: Path, users: list[str], domain: str = "mail.test", tls: bool = False) -> None:
        self.root = root
        self.tls = tls  # STARTTLS on `port`, implicit TLS on `imaps_port`, with a private CA (`ca_file`)
        self.imaps_port = free_port()
        self.ca_file: Path | None = None
        self.domain = domain
        self.port = free_port()
        self.smtp_port = free_port()  # where Sieve submits its replies: Postfix's port, when one runs
        self.users = users
        self.proc: subprocess.Popen | None = None
        self.conf = root / "dovecot.conf"

    def start(self) -> "Dovecot":
        for sub in ("run", "state", "mail", "sieve"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = _mail_owner()
        lines = [f"{u}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{self.root}/mail/{u}::" for u in self.users]
        (self.root / "lda.log").touch()
        for sub in ("mail", "sieve", "lda.log"):
            shutil.chown(self.root / sub, uid, gid)
        self.root.chmod(0o755)
        (self.root / "passwd").write_text("\n".join(lines) + "\n")
        ssl = "ssl = no"
        if self.tls:
            self.ca_file, cert, key = make_certificates(self.root)
            ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        self.conf.write_text(DOVECOT_CONF.format(root=self.root, port=self.port, domain=self.domain, ssl=ssl,
                                                 smtp_port=self.smtp_port, imaps_port=self.imaps_port if self.tls else 0))
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(self.conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return "".join((self.root / name).read_text(errors="replace")
                       for name in ("dovecot.log", "lda.log") if (self.root / name).exists())

    def vacation(self, user: str, text: str, subject: str = "Out of office") -> None:
        """A Sieve `vacation` rule for `user` (Pigeonhole answers with an RFC 3834 auto-reply)."""
        uid, gid = _mail_owner()
        script = (f'require ["vacation"];\nvacation :days 1 :subject "{subject}" :addresses ["{user}@{self.domain}"]\n'
                  f'  text:\n{text}\n.\n;\n')
        (self.root / "sieve" / user).mkdir(parents=True, exist_ok=True)
        (self.root / "sieve" / f"{user}.sieve").write_text(script)
        for path in (self.root / "sieve" / user, self.root / "sieve" / f"{user}.sieve"):
            shutil.chown(path, uid, gid)


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination = localhost
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_transport = dovecot
dovecot_destination_recipient_limit = 1
# accept any address of the domain and fail unknown ones at delivery: Postfix then writes its own DSN
smtpd_reject_unlisted_recipient = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtpd_banner = $myhostname ESMTP
alias_maps =
alias_database =
default_transport = error:outside mail is not delivered in tests
relay_transport = error:outside mail is not delivered in tests
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
biff = no
append_dot_mydomain = no
smtputf8_enable = no
delay_warning_time = 0h
bounce_queue_lifetime = 0
maximal_queue_lifetime = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
manpage_directory = /usr/share/man
"""
POSTFIX_MASTER_EXTRA = """\
{port} inet n - n - - smtpd
dovecot unix - n n - - pipe
  flags=DRhu user=dovecot:dovecot argv=/usr/lib/dovecot/dovecot-lda -c {root}/dovecot.conf -f ${{sender}} -a ${{original_recipient}} -d ${{user}}
"""


def make_certificates(root: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it signs for 127.0.0.1 and localhost: (ca, cert, key) files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fsl test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = root / "ca.pem", root / "cert.pem", root / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _mail_owner() -> tuple[int, int]:
    """Mail is owned by the `dovecot` system user: Postfix's pipe to dovecot-lda may not run as root."""
    import pwd

    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


class Postfix:
    """Postfix accepting mail for `domain` on 127.0.0.1:port, delivering through dovecot-lda."""

    def __init__(self, root: Path, dovecot: Dovecot) -> None:
        self.root = root
        self.dovecot = dovecot
        self.port = dovecot.smtp_port
        self.confdir = root / "postfix"

    def _postfix(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["/usr/sbin/postfix", "-c", str(self.confdir), *args], capture_output=True, text=True,
                              timeout=60)

    def start(self) -> "Postfix":
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.root / "queue").mkdir(exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        shutil.chown(self.root / "data", "postfix")
        main = POSTFIX_MAIN.format(root=self.root, domain=self.dovecot.domain)
        (self.confdir / "main.cf").write_text(main)
        master = Path("/etc/postfix/master.cf").read_text()
        # only our own listener: the default smtp on port 25 is not for tests
        master = "\n".join(line for line in master.splitlines() if not line.startswith("smtp      inet"))
        (self.confdir / "master.cf").write_text(master + "\n" + POSTFIX_MASTER_EXTRA.format(port=f"127.0.0.1:{self.port}", root=self.root))
        (self.root / "vmailbox").write_text("".join(f"{u}@{self.dovecot.domain} ok\n" for u in self.dovecot.users))
        done = self._postfix("check")
        if done.returncode:
            raise RuntimeError(f"postfix check: {done.stderr or done.stdout}")
        done = self._postfix("start")
        if done.returncode:
            raise RuntimeError(f"postfix start: {done.stderr or done.stdout}")
        wait_port(self.port)
        return self

    def stop(self) -> None:
        self._postfix("stop")

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""
