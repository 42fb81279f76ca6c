//! CPU time of running processes and of the whole machine, read from `/proc`: cheap enough to
//! sample before and after a measurement, for processes that are not the driver's children to
//! wait for (PostgreSQL's server), or that keep running (workers, simulators, Temporal).

use std::collections::HashMap;

use anyhow::{Context, Result};

/// A process's CPU time so far, in clock ticks: its own (user + system) and that of its
/// children it has waited for (`cutime` + `cstime`: a PostgreSQL session that ended).
#[derive(Debug, Clone, Copy, Default)]
struct Ticks {
    own: u64,
    reaped_children: u64,
}

/// `/proc/<pid>/stat`: the parent's pid and the CPU ticks, or `None` once the process is gone.
fn stat(pid: u32) -> Option<(u32, Ticks)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: the fields follow its last `)`.
    let fields: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
    // Numbered from the state (field 3 of proc(5)): ppid 4, utime 14, stime 15, cutime 16,
    // cstime 17.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = Ticks {
        own: field(14)? + field(15)?,
        reaped_children: field(16)? + field(17)?,
    };
    Some((u32::try_from(field(4)?).ok()?, ticks))
}

/// The parent of every running process.
fn parents() -> Result<HashMap<u32, u32>> {
    let mut parents = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((parent, _)) = stat(pid) {
            parents.insert(pid, parent);
        }
    }
    Ok(parents)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The CPU seconds a process and all its descendants used so far: each running process's own
/// time plus what it reaped of its ended children (counted once, by whoever waited for them).
/// A process that is gone counts 0.
pub fn tree_seconds(root: u32) -> Result<f64> {
    let parents = parents()?;
    let in_tree = |mut pid: u32| loop {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&parent) if parent != 0 && parent != pid => pid = parent,
            _ => return false,
        }
    };
    let ticks: u64 = parents
        .keys()
        .filter(|&&pid| in_tree(pid))
        .filter_map(|&pid| stat(pid))
        .map(|(_, t)| t.own + t.reaped_children)
        .sum();
    Ok(ticks as f64 / ticks_per_second())
}

/// The CPU seconds one process (all its threads) used so far; 0 once it is gone.
pub fn process_seconds(pid: u32) -> f64 {
    stat(pid).map_or(0.0, |(_, t)| t.own as f64 / ticks_per_second())
}

/// The CPU seconds the whole machine spent busy so far (every core: user, nice, system, irq,
/// softirq, steal), from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = text.lines().next().unwrap_or_default();
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| values.get(i))
        .sum();
    Ok(busy as f64 / ticks_per_second())
}

/// The machine's cores, as the scheduler sees them.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_is_in_its_own_tree() {
        let me = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0);
        }
        assert!(process_seconds(me) > 0.0);
        assert!(tree_seconds(me).unwrap() >= process_seconds(me));
        assert!(machine_busy_seconds().unwrap() > 0.0);
        assert_eq!(process_seconds(u32::MAX), 0.0);
    }
}
