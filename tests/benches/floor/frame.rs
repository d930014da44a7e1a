//! The floor's one message: 32 bytes, a kind, a wave number and three instants or counts.

use std::io::{ErrorKind, Read};

use anyhow::bail;

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
    /// To an agent, between waves: checkpoint the journal's WAL when it is due.
    Checkpoint = 6,
    /// From an agent: checkpointed.
    Checkpointed = 7,
}

impl Kind {
    fn of(b: u8) -> Option<Kind> {
        [
            Kind::Go,
            Kind::Committed,
            Kind::Walk,
            Kind::Outcome,
            Kind::Result,
            Kind::Checkpoint,
            Kind::Checkpointed,
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
    pub fn new(kind: Kind, wave: u32, a: i64, b: i64, c: i64) -> Frame {
        Frame {
            kind,
            wave,
            a,
            b,
            c,
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

    /// Reads exactly one frame; `None` when the connection ends between frames (an end inside
    /// a frame is an error).
    pub fn read_or_end(conn: &mut impl Read) -> anyhow::Result<Option<Frame>> {
        let mut buf = [0u8; LEN];
        let mut filled = 0;
        while filled < LEN {
            match conn.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => bail!("connection ended inside a frame ({filled} of {LEN} bytes)"),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
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

    /// Reads exactly one frame of `kind` for `wave`; anything else, or the end, is an error.
    pub fn read(conn: &mut impl Read, kind: Kind, wave: u32) -> anyhow::Result<Frame> {
        let Some(f) = Frame::read_or_end(conn)? else {
            bail!("the other process closed its connection");
        };
        if (f.kind, f.wave) != (kind, wave) {
            bail!(
                "expected {kind:?} of wave {wave}, got {:?} of wave {}",
                f.kind,
                f.wave
            );
        }
        Ok(f)
    }
}

/// Wall-clock µs since the epoch: one clock for every process on the machine, as the
/// processes' timing lines use.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
