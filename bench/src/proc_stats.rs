//! Server resource use from `/proc` (Linux): CPU seconds (user + system) and resident memory
//! of the processes that make up the server under test.

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Total user + system CPU seconds of `pids` (children that exited are not counted).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|&pid| {
            let f = stat_fields(pid)?;
            // After the name: state(0) ppid(1) ... utime(11) stime(12).
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / TICKS_PER_SECOND)
        })
        .sum()
}

/// Total resident set size of `pids`, in bytes.
pub fn rss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&pid| {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .sum()
}

/// Every process named `name` that descends from `root` (e.g. the workerd that Miniflare or
/// wrangler started).
pub fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let procs: Vec<(u32, u32, String)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            let ppid = stat_fields(pid)?.get(1)?.parse().ok()?;
            Some((pid, ppid, comm.trim().to_owned()))
        })
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    procs
        .iter()
        .filter(|p| p.2 == name && family.contains(&p.0))
        .map(|p| p.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        // Burn a little CPU, so that a misparsed stat line (reading 0) fails.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu_seconds(&[me]) > 0.05);
        assert!(rss_bytes(&[me]) > 1_000_000);
        assert_eq!(cpu_seconds(&[u32::MAX]), 0.0);
        assert!(descendants_named(me, "no-such-process").is_empty());
    }

    #[test]
    fn finds_a_child_by_name() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let found = descendants_named(std::process::id(), "sleep");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, vec![child.id()]);
    }
}
