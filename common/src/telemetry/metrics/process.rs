//! The standard `process_*` metrics (Prometheus client conventions) and `wavegate_build_info`,
//! read from Linux's `/proc/self` at each scrape. Elsewhere the process families are empty.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, IntGauge, IntGaugeVec, Opts};

/// Linux reports CPU times and start time in USER_HZ ticks, which the kernel fixes at 100 for
/// user space on every architecture it supports (`man 5 proc`, /proc/pid/stat).
const USER_HZ: f64 = 100.0;

/// `process_*` families, refreshed from `/proc/self` when collected.
pub struct ProcessCollector {
    cpu: Counter,
    resident: IntGauge,
    virtual_mem: IntGauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    start_time: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    /// The collector; fails only on an invalid metric definition.
    pub fn new() -> Result<Self, prometheus::Error> {
        let cpu = Counter::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )?;
        let resident = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        let virtual_mem = IntGauge::new(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        )?;
        let open_fds = IntGauge::new("process_open_fds", "Number of open file descriptors.")?;
        let max_fds = IntGauge::new(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        )?;
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        let mut descs = Vec::new();
        for c in [
            &cpu as &dyn Collector,
            &resident,
            &virtual_mem,
            &open_fds,
            &max_fds,
            &start_time,
        ] {
            descs.extend(c.desc().into_iter().cloned());
        }
        Ok(Self {
            cpu,
            resident,
            virtual_mem,
            open_fds,
            max_fds,
            start_time,
            descs,
        })
    }

    fn refresh(&self) -> Option<()> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start at field 3 (state).
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu = (field(14)? + field(15)?) / USER_HZ;
        let delta = cpu - self.cpu.get();
        if delta > 0.0 {
            self.cpu.inc_by(delta);
        }
        self.virtual_mem.set(field(23)? as i64);
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            self.resident.set(kb * 1024);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(dir.count()).unwrap_or(i64::MAX));
        }
        if let Some(max) = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.max_fds.set(max);
        }
        let btime = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        self.start_time.set(btime + field(22)? / USER_HZ);
        Some(())
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if self.refresh().is_none() {
            // Not Linux (or /proc unreadable): nothing rather than made-up values.
            return Vec::new();
        }
        let mut out = Vec::new();
        out.extend(self.cpu.collect());
        out.extend(self.resident.collect());
        out.extend(self.virtual_mem.collect());
        out.extend(self.open_fds.collect());
        out.extend(self.max_fds.collect());
        out.extend(self.start_time.collect());
        out
    }
}

/// `wavegate_build_info{version, process} 1`: which build each process runs.
pub fn build_info(process: &str) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(
        Opts::new(
            "wavegate_build_info",
            "Always 1; its labels say which wavegate build and process this is.",
        ),
        &["version", "process"],
    )?;
    g.with_label_values(&[crate::VERSION, process]).set(1);
    Ok(g)
}
