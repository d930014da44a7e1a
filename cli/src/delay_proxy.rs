//! A loopback TCP proxy delaying every byte by a fixed one-way time both ways (40 ms ≈
//! Frankfurt ↔ Tokyo) without `netem`: latency only, in order.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes read at once from one side.
const CHUNK: usize = 64 * 1024;

/// A running proxy; stops accepting (and drops its connections) when dropped.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on `127.0.0.1` and forwards to loopback `upstream`, delaying both ways by `one_way`.
    pub async fn start(upstream: SocketAddr, one_way: Duration) -> io::Result<Self> {
        if !upstream.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("delay proxy: upstream {upstream} is not a loopback address"),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    // A refused upstream closes the client's connection, as a dead path would.
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    link(client, server, one_way).await;
                });
                // Finished connections are reaped so the set does not grow without bound.
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, task })
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

/// Both directions of one proxied connection, until both have ended.
async fn link(client: TcpStream, server: TcpStream, one_way: Duration) {
    // Small writes (gRPC frames) must leave at once, not wait for Nagle.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pump(cr, sw, one_way), pump(sr, cw, one_way));
}

/// Reads from `from` and writes each chunk to `to` `one_way` after it was read.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, one_way: Duration) {
    // Unbounded, else the delay becomes a bandwidth limit; bounded by what `one_way` carries.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        // Ends at EOF or an error, dropping `tx`: the writer ends after the last delayed chunk.
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((Instant::now() + one_way, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes every byte back until the peer closes.
    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_round_trip_pays_the_delay_twice_and_bytes_arrive_in_order() {
        let one_way = Duration::from_millis(30);
        let proxy = DelayProxy::start(echo_server().await, one_way)
            .await
            .unwrap();
        assert!(proxy.addr().ip().is_loopback());
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let msg: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let started = std::time::Instant::now();
        let (mut r, mut w) = s.split();
        let send = async {
            w.write_all(&msg).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut back = Vec::new();
        let recv = async {
            r.read_to_end(&mut back).await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(send, recv) })
            .await
            .unwrap();
        // A lower bound only: the delay is the behaviour; speed is never asserted.
        assert!(started.elapsed() >= 2 * one_way, "{:?}", started.elapsed());
        assert_eq!(back, msg);
    }

    #[tokio::test]
    async fn a_non_loopback_upstream_is_refused() {
        let e = DelayProxy::start("192.0.2.1:80".parse().unwrap(), Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("192.0.2.1:80"), "{e}");
    }

    #[tokio::test]
    async fn a_dead_upstream_closes_the_client() {
        // Bind then drop: the port is free and nothing listens there.
        let dead = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = DelayProxy::start(dead, Duration::ZERO).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
