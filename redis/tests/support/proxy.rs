//! A TCP proxy on loopback that a test controls: it forwards one client's traffic to
//! Redis, and can freeze it (no byte moves either way, the connections stay open: to the
//! client, Redis has gone silent) and thaw it again.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a pump looks at the freeze flag while no byte comes.
const TICK: Duration = Duration::from_millis(2);

pub struct Proxy {
    pub port: u16,
    frozen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// A proxy to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (f, s, all) = (frozen.clone(), stop.clone(), streams.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        for stream in [&client, &server] {
                            stream.set_nodelay(true).unwrap();
                            stream.set_read_timeout(Some(TICK)).unwrap();
                            all.lock().unwrap().push(stream.try_clone().unwrap());
                        }
                        pump(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            &f,
                            &s,
                        );
                        pump(server, client, &f, &s);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
                    Err(_) => return,
                }
            }
        });
        Proxy {
            port,
            frozen,
            stop,
            streams,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// No byte moves until `thaw`; open connections stay open.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread of its own, holding everything while frozen.
fn pump(mut from: TcpStream, mut to: TcpStream, frozen: &Arc<AtomicBool>, stop: &Arc<AtomicBool>) {
    let (frozen, stop) = (frozen.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while !stop.load(Ordering::Acquire) {
            if frozen.load(Ordering::Acquire) {
                std::thread::sleep(TICK);
                continue;
            }
            match from.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    // Bytes read just before a freeze are held until the thaw.
                    while frozen.load(Ordering::Acquire) && !stop.load(Ordering::Acquire) {
                        std::thread::sleep(TICK);
                    }
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
