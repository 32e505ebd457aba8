//! Helpers shared by the examples: a tiny HTTP/1.1 server and client over tokio, latency
//! statistics, and the process's peak memory. Each example uses only part of it.
#![allow(dead_code, reason = "each example uses only part of it")]

pub mod plot;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Serves HTTP/1.1 `GET` requests on 127.0.0.1 (an ephemeral port) from a spawned task,
/// until the runtime shuts down. `handler` gets the request path and returns the body of a
/// `200 OK` response. One request per connection (`Connection: close`).
pub async fn serve<H, F>(handler: H) -> io::Result<SocketAddr>
where
    H: Fn(String) -> F + Send + Sync + 'static,
    F: Future<Output = String> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue; // e.g. out of file descriptors for a moment
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = answer(socket, &*handler).await;
            });
        }
    });
    Ok(addr)
}

async fn answer<H, F>(socket: TcpStream, handler: &H) -> io::Result<()>
where
    H: Fn(String) -> F,
    F: Future<Output = String>,
{
    let mut socket = BufReader::new(socket);
    let mut request_line = String::new();
    socket.read_line(&mut request_line).await?;
    // Skip the headers, up to the empty line.
    let mut header = String::new();
    while socket.read_line(&mut header).await? > 2 {
        header.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let body = handler(path).await;
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.get_mut().write_all(response.as_bytes()).await?;
    socket.get_mut().shutdown().await
}

/// `GET http://{addr}{path}` on a fresh connection; the body of a `200 OK` response.
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut socket = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(io::Error::other(format!("bad response: {response:?}"))),
    }
}

/// Summary statistics of a set of durations.
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self { sorted: samples }
    }

    pub fn mean(&self) -> Duration {
        self.sorted.iter().sum::<Duration>() / self.sorted.len().max(1) as u32
    }

    pub fn percentile(&self, p: usize) -> Duration {
        let rank = (self.sorted.len() * p / 100).min(self.sorted.len().saturating_sub(1));
        self.sorted.get(rank).copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "n={:<4} mean {:>7.1} ms   p50 {:>7.1} ms   p95 {:>7.1} ms   max {:>7.1} ms",
            self.sorted.len(),
            ms(self.mean()),
            ms(self.percentile(50)),
            ms(self.percentile(95)),
            ms(self.max()),
        )
    }
}

/// The process's peak resident memory ("VmHWM" in `/proc/self/status`), in KiB, where the
/// system reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
