//! The random faults of the soak run, drawn from a seeded generator so a failing run can be
//! repeated: none, an agent killed (SIGKILL) and restarted after up to 3 s, an agent stopped
//! (SIGSTOP) for up to 3 s, the coordinator killed and restarted.

use std::time::Duration;

use wavegate_tests::Proc;

/// xorshift64*: small, seeded, good enough to pick faults and symbols.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One wave's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing happens.
    None,
    /// SIGKILL of agent `i`, restarted after `ms`.
    KillAgent { i: usize, ms: u64 },
    /// SIGSTOP of agent `i` for `ms`, then SIGCONT.
    StopAgent { i: usize, ms: u64 },
    /// SIGKILL of the coordinator, restarted at once.
    KillCoordinator,
}

impl Fault {
    /// 70 % none, 12 % agent killed, 10 % agent stopped, 8 % coordinator killed.
    pub fn draw(rng: &mut Rng) -> Fault {
        let i = rng.below(2) as usize;
        let ms = rng.below(3000);
        match rng.below(100) {
            0..70 => Fault::None,
            70..82 => Fault::KillAgent { i, ms },
            82..92 => Fault::StopAgent { i, ms },
            _ => Fault::KillCoordinator,
        }
    }
}

/// Injects `fault` a few milliseconds into the wave (so it lands mid-dispatch).
pub async fn inject(
    fault: Fault,
    rng: &mut Rng,
    agents: &mut [Proc],
    coord: &mut Proc,
) -> anyhow::Result<()> {
    if fault == Fault::None {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(rng.below(60))).await;
    match fault {
        Fault::None => {}
        Fault::KillAgent { i, ms } => {
            agents[i].kill().await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            agents[i].restart().await?;
        }
        Fault::StopAgent { i, ms } => {
            agents[i].signal("STOP").await?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            agents[i].signal("CONT").await?;
        }
        Fault::KillCoordinator => {
            coord.kill().await;
            coord.restart().await?;
        }
    }
    Ok(())
}

/// How many faults of each kind were injected.
#[derive(Debug, Default)]
pub struct Tally {
    /// Waves without a fault.
    pub none: usize,
    /// Agents killed and restarted.
    pub agent_kills: usize,
    /// Agents stopped and continued.
    pub agent_stops: usize,
    /// Coordinator kills.
    pub coordinator_kills: usize,
}

impl Tally {
    /// Counts one wave's fault.
    pub fn count(&mut self, f: Fault) {
        match f {
            Fault::None => self.none += 1,
            Fault::KillAgent { .. } => self.agent_kills += 1,
            Fault::StopAgent { .. } => self.agent_stops += 1,
            Fault::KillCoordinator => self.coordinator_kills += 1,
        }
    }
}
