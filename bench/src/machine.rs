//! What the numbers were measured on: CPU model and cores from `/proc/cpuinfo`, memory from
//! `/proc/meminfo`, the kernel, the date; and a process's resident memory from
//! `/proc/<pid>/status` (`VmRSS` now, `VmHWM` its peak so far).

use serde::Serialize;

/// The machine of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of the first processor.
    pub cpu_model: String,
    /// Logical processors listed in `/proc/cpuinfo`.
    pub cores: usize,
    /// Threads this process may run on (cgroup and affinity limits included).
    pub available_parallelism: usize,
    /// `MemTotal`, GiB.
    pub memory_gib: f64,
    /// `uname -r` equivalent (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// When the run started, RFC 3339 UTC.
    pub date: String,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> anyhow::Result<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo")?;
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let (cpu_model, cores) = parse_cpuinfo(&cpuinfo);
        let memory_kib = status_field_kib(&meminfo, "MemTotal").unwrap_or(0);
        Ok(Self {
            cpu_model,
            cores,
            available_parallelism: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            memory_gib: memory_kib as f64 / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
            date: time::OffsetDateTime::now_utc().replace_nanosecond(0)?.format(&time::format_description::well_known::Rfc3339)?,
        })
    }
}

/// The first `model name` and the number of `processor` entries.
pub fn parse_cpuinfo(cpuinfo: &str) -> (String, usize) {
    let mut model = None;
    let mut cores = 0;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key.trim() {
            "processor" => cores += 1,
            "model name" if model.is_none() => model = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    (model.unwrap_or_else(|| "unknown".to_owned()), cores)
}

/// A `Name:   1234 kB` field of `/proc/<pid>/status` or `/proc/meminfo`, in KiB.
pub fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != field {
            return None;
        }
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resident memory of a process, KiB.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub current_kib: u64,
    /// `VmHWM`: the most it has been resident since it started.
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name| status_field_kib(&status, name).ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no {name}"));
    Ok(Rss { current_kib: field("VmRSS")?, peak_kib: field("VmHWM")? })
}

/// CPU time (user + system, every thread) a process has used so far, seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_cpu_ticks(&stat).ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in clock ticks. The command name (field 2) is
/// in parentheses and may hold spaces, so fields are counted after its closing parenthesis:
/// state is field 3, utime field 14 and stime field 15.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; asked once rather than assumed).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Example CPU @ 2.00GHz\n";
        assert_eq!(parse_cpuinfo(text), ("Example CPU @ 2.00GHz".to_owned(), 2));
        assert_eq!(parse_cpuinfo(""), ("unknown".to_owned(), 0));
    }

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tbench\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2043 0 0 0 150 25 0 0 20 0 9 0 123 456 789";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(175));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }

    #[test]
    fn reads_its_own_memory() {
        let own = rss(std::process::id()).unwrap();
        assert!(own.current_kib > 0 && own.peak_kib >= own.current_kib, "{own:?}");
    }
}
