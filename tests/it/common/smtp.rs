//! A real SMTP server for tests: Debian's python3-aiosmtpd (tests/support/smtp_server.py),
//! requiring STARTTLS and AUTH (user `alerts`, password `s3cret`), saving each message as JSON.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::require_tool;

const PYTHON: &str = "/usr/bin/python3";

pub struct Smtp {
    child: Child,
    pub port: u16,
    out: tempfile::TempDir,
    pub ca_file: std::path::PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn aiosmtpd_available() -> bool {
    if !require_tool(PYTHON) {
        return false;
    }
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("python3-aiosmtpd is required under CI (apt-get install -y python3-aiosmtpd)");
    }
    if !ok {
        eprintln!("skipping: python3-aiosmtpd not installed");
    }
    ok
}

pub fn start_smtp() -> Smtp {
    let out = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_file, key_file) = (out.path().join("cert.pem"), out.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let messages = out.path().join("messages");
    std::fs::create_dir(&messages).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .arg(port.to_string())
        .arg(&messages)
        .arg(&cert_file)
        .arg(&key_file)
        .args(["alerts", "s3cret"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "SMTP server did not start");
    Smtp {
        child,
        port,
        out,
        ca_file: cert_file,
    }
}

impl Smtp {
    pub fn messages(&self) -> Vec<Value> {
        let dir = self.out.path().join("messages");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} emails, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
