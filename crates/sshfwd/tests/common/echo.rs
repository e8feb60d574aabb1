//! TCP peers behind the forwardings: a thread-per-connection server and
//! an echo server, with a round trip through them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Socket read/write timeout in the test's TCP peers.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A thread-per-connection TCP server on 127.0.0.1; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start<F>(handler: F) -> TestServer
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stop2 = stop.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
                let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
                let h = handler.clone();
                thread::spawn(move || h(conn));
            }
        });
        TestServer { addr, stop, accept: Some(accept) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Echoes everything until EOF, then closes.
pub fn echo_server() -> TestServer {
    TestServer::start(|mut c| {
        let mut buf = [0u8; 16384];
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = c.shutdown(Shutdown::Write);
    })
}

/// Connects, sends `msg`, half-closes, and reads until EOF.
pub fn echo_round_trip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(msg).expect("write");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read");
    got
}
