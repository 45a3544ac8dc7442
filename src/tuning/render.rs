//! The report as text: an aligned table, the unknowns, and the fix.

use std::fmt::Write as _;

use super::{Fix, Row, TuningReport, Verdict};

/// The kit's script, relative to a checkout (see `tuning/README.md`).
pub(super) const APPLY: &str = "sudo tuning/apply.sh <iface>";

const PREFIX: &str = "h2ring: ";

/// `--tuning warn|strict`: only what is off, the unknowns on one line, the
/// fix on one line; every line starts with "h2ring: ". Empty when there is
/// nothing to say.
pub(super) fn startup(report: &TuningReport) -> String {
    let mut out = String::new();
    let problems: Vec<&Row> = report.problems().collect();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "{PREFIX}kernel tuning: {} of {} settings are off for {} (`h2ring check-tuning` lists all):",
            problems.len(),
            report.rows.len(),
            report.bdp
        );
        out.push_str(&table(&problems, false, PREFIX));
    }
    let unknowns: Vec<String> = report.unknowns().map(unknown_item).collect();
    if !unknowns.is_empty() {
        let _ = writeln!(out, "{PREFIX}kernel tuning unknown (not counted): {}", unknowns.join(", "));
    }
    if let Some(fix) = fix_line(report) {
        let _ = writeln!(out, "{PREFIX}fix: {fix}");
    }
    out
}

/// `h2ring check-tuning`: every row, a summary, and the fix when needed.
pub(super) fn full(report: &TuningReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernel tuning for {} in flight per connection (--link-gbps, --rtt-ms)", report.bdp);
    let rows: Vec<&Row> = report.rows.iter().collect();
    out.push_str(&table(&rows, true, ""));
    let off = report.problems().count();
    let unknown = report.unknowns().count();
    let _ = write!(out, "{off} of {} settings off", report.rows.len());
    if unknown > 0 {
        let _ = write!(out, ", {unknown} unknown (not counted)");
    }
    out.push_str(if off == 0 { ": all is well\n" } else { "\n" });
    if let Some(fix) = fix_line(report) {
        let _ = writeln!(out, "fix: {fix}");
    }
    out
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Low { .. } => "LOW",
        Verdict::Wrong { .. } => "WRONG",
        Verdict::Unknown(_) => "unknown",
    }
}

fn unknown_item(row: &Row) -> String {
    match &row.verdict {
        Verdict::Unknown(reason) => format!("{} ({reason})", row.knob),
        _ => row.knob.to_string(),
    }
}

/// Columns knob, current, wanted, [verdict,] why, padded to the widest
/// cell (in characters: "≥" is one column).
fn table(rows: &[&Row], with_verdict: bool, prefix: &str) -> String {
    let why = |r: &Row| match &r.verdict {
        Verdict::Unknown(reason) => format!("({reason}) {}", r.why),
        _ => r.why.clone(),
    };
    let mut cells: Vec<Vec<String>> =
        vec![["knob", "current", "wanted", "verdict", "why"].iter().map(|s| s.to_string()).collect()];
    for r in rows {
        cells.push(vec![
            r.knob.to_string(),
            r.current.clone(),
            r.wanted.clone(),
            verdict_word(&r.verdict).into(),
            why(r),
        ]);
    }
    if !with_verdict {
        for line in &mut cells {
            line.remove(3);
        }
    }
    let columns = cells[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| cells.iter().map(|line| line[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for line in &cells {
        out.push_str(prefix);
        if !prefix.is_empty() {
            out.push_str("  ");
        }
        for (c, cell) in line.iter().enumerate() {
            if c + 1 == columns {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push('\n');
    }
    out
}

/// One line: the kit, or the commands one by one. `None` without problems.
pub(super) fn fix_line(report: &TuningReport) -> Option<String> {
    let fixes: Vec<&Fix> = report.problems().filter_map(|r| r.fix.as_ref()).collect();
    if fixes.is_empty() {
        return None;
    }
    let mut by_hand = Vec::new();
    for fix in &fixes {
        if let Fix::Modprobe(module) = fix {
            by_hand.push(format!("sudo modprobe {module}"));
        }
    }
    let sysctls: Vec<String> = fixes
        .iter()
        .filter_map(|f| match f {
            Fix::Sysctl { name, value } if value.contains(' ') => Some(format!("{name}=\"{value}\"")),
            Fix::Sysctl { name, value } => Some(format!("{name}={value}")),
            _ => None,
        })
        .collect();
    if !sysctls.is_empty() {
        by_hand.push(format!("sudo sysctl -w {}", sysctls.join(" ")));
    }
    let qdisc = fixes.iter().any(|f| matches!(f, Fix::Sysctl { name: "net.core.default_qdisc", .. }));
    if qdisc {
        by_hand.push("then re-create <iface>'s qdisc so it takes fq (apply.sh does it)".into());
    }
    let kit = !by_hand.is_empty();
    for fix in &fixes {
        if let Fix::Memlock { bytes } = fix {
            by_hand.push(format!(
                "ulimit -l {} (KiB), or LimitMEMLOCK={bytes} in tuning/h2ring.service",
                bytes.div_ceil(1024)
            ));
        }
    }
    let by_hand = by_hand.join("; ");
    Some(if kit { format!("{APPLY} (see tuning/README.md), or by hand: {by_hand}") } else { by_hand })
}
