//! `rediss://` with a private certificate authority (feature `tls`).
#![cfg(feature = "tls")]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prio_semaphore_redis::RedisSemaphore;
use support::RedisServer;

/// A CA and a server certificate for 127.0.0.1, made with the `openssl` command.
fn certificates(dir: &Path) {
    support::require("openssl", "openssl");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the TLS test needs the `openssl` command (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=prio-semaphore test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[tokio::test]
async fn rediss_with_a_password_and_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("prio-semaphore-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let server = RedisServer::start_tls(
        &path("server.crt"),
        &path("server.key"),
        &path("ca.crt"),
        &["--requirepass", "tls-s3cret"],
    );
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let url = format!("rediss://:tls-s3cret@127.0.0.1:{}/", server.port);
    let sem = RedisSemaphore::builder(&url, "tls", 1)
        .lease(Duration::from_secs(1))
        .tls_root_certificate(ca)
        .connect()
        .await
        .expect("TLS connection trusted through the private CA");
    let permit = sem.acquire().await.expect("acquire over TLS");
    permit.release().await.expect("release over TLS");

    // Without that CA the server's certificate is not trusted: a clear error, no hang.
    let untrusted = RedisSemaphore::builder(&url, "tls", 1)
        .io_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect_err("an unknown CA must be refused");
    let text = untrusted.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknownissuer"),
        "{untrusted}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
