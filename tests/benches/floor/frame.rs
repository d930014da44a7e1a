//! The floor's one message: 32 bytes, a kind, a wave number and three instants or counts.

use anyhow::bail;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Bytes in a frame.
pub const LEN: usize = 32;

/// What a frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// To an agent: commit one row now (close → first order).
    Go = 1,
    /// From an agent: `a` when it read `Go`, `b` when its row committed.
    Committed = 2,
    /// To an agent: walk `a` signals making `b` exchange calls of `c` µs each.
    Walk = 3,
    /// From an agent: one walked signal's outcome, after its commit.
    Outcome = 4,
    /// From an agent: the walk's result, after its commit.
    Result = 5,
}

impl Kind {
    fn of(b: u8) -> Option<Kind> {
        [
            Kind::Go,
            Kind::Committed,
            Kind::Walk,
            Kind::Outcome,
            Kind::Result,
        ]
        .into_iter()
        .find(|k| *k as u8 == b)
    }
}

/// One message.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub kind: Kind,
    pub wave: u32,
    pub a: i64,
    pub b: i64,
    pub c: i64,
}

impl Frame {
    pub fn new(kind: Kind, wave: u32, a: i64, b: i64) -> Frame {
        Frame {
            kind,
            wave,
            a,
            b,
            c: 0,
        }
    }

    pub fn bytes(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0] = self.kind as u8;
        out[4..8].copy_from_slice(&self.wave.to_le_bytes());
        out[8..16].copy_from_slice(&self.a.to_le_bytes());
        out[16..24].copy_from_slice(&self.b.to_le_bytes());
        out[24..32].copy_from_slice(&self.c.to_le_bytes());
        out
    }

    /// Reads exactly one frame; a closed connection is `None`.
    pub async fn read_or_end(conn: &mut TcpStream) -> anyhow::Result<Option<Frame>> {
        let mut buf = [0u8; LEN];
        match conn.read_exact(&mut buf).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let Some(kind) = Kind::of(buf[0]) else {
            bail!("unknown frame kind {}", buf[0]);
        };
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[at..at + 8]);
            i64::from_le_bytes(b)
        };
        let mut wave = [0u8; 4];
        wave.copy_from_slice(&buf[4..8]);
        Ok(Some(Frame {
            kind,
            wave: u32::from_le_bytes(wave),
            a: word(8),
            b: word(16),
            c: word(24),
        }))
    }

    /// Reads exactly one frame; a closed connection is an error.
    pub async fn read(conn: &mut TcpStream) -> anyhow::Result<Frame> {
        match Frame::read_or_end(conn).await? {
            Some(f) => Ok(f),
            None => bail!("the other process closed its connection"),
        }
    }

    /// This frame when it is of `kind`, else an error.
    pub fn expect_kind(self, kind: Kind) -> anyhow::Result<Frame> {
        if self.kind != kind {
            bail!("expected {kind:?}, got {:?}", self.kind);
        }
        Ok(self)
    }
}

/// Wall-clock µs since the epoch: one clock for every process on the machine, as the
/// processes' timing lines use.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
