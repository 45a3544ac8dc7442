//! A strict reader of the Prometheus text format 0.0.4, for tests only:
//! the renderer's unit tests and `tests/metrics.rs` (which includes this
//! file by path) check what the server writes with it. Stricter than
//! Prometheus: every line is a `# HELP`, a `# TYPE` or a sample; each
//! family is `HELP`, `TYPE`, then its samples, together; no series twice;
//! histogram buckets ascend, are cumulative and end with `+Inf` = `_count`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

/// One series: its sample name, labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.families.values().flat_map(|f| &f.samples).find(|s| s.name == name && s.labels == want).map(|s| s.value)
    }

    /// All series of the sample name `name`.
    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.families.values().flat_map(|f| &f.samples).filter(|s| s.name == name).collect()
    }
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let ok_start = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    chars.next().is_some_and(ok_start) && chars.all(|c| ok_start(c) || c.is_ascii_digit())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) => {
            s.parse().map_err(|_| format!("bad value {s:?}"))
        }
        _ => Err(format!("bad value {s:?}")),
    }
}

/// `{a="x",b="y"}` (the braces included) into labels; returns the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = &s[1..];
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end..])?
    } else {
        (BTreeMap::new(), &line[name_end..])
    };
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    // No timestamps are written: one field after the name.
    Ok(Sample { name: name.to_string(), labels, value: parse_value(value)? })
}

/// The family a sample name belongs to.
fn belongs(family: &str, kind: &str, sample: &str) -> bool {
    match kind {
        "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| sample.strip_suffix(s) == Some(family)),
        _ => sample == family,
    }
}

/// Parses `text` strictly; `Err` names the line.
pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("the text does not end with a newline".into());
    }
    if text.contains('\r') {
        return Err("lines end with \\n only".into());
    }
    let mut exp = Exposition::default();
    let mut current: Option<String> = None;
    let mut help: Option<(String, String)> = None;
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').ok_or_else(|| fail("HELP without text".into()))?;
            if !is_name(name, true) || exp.families.contains_key(name) {
                return Err(fail("bad or repeated family".into()));
            }
            help = Some((name.to_string(), doc.to_string()));
            current = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| fail("TYPE without kind".into()))?;
            let Some((help_name, doc)) = help.take().filter(|(h, _)| h == name) else {
                return Err(fail("TYPE not right after its HELP".into()));
            };
            if !["counter", "gauge", "histogram"].contains(&kind) {
                return Err(fail(format!("unexpected type {kind}")));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(fail("a counter not named _total".into()));
            }
            let family = Family { kind: kind.to_string(), help: doc, samples: Vec::new() };
            exp.families.insert(help_name.clone(), family);
            current = Some(help_name);
        } else if line.starts_with('#') || line.is_empty() {
            return Err(fail("unexpected comment or empty line".into()));
        } else {
            let sample = parse_sample(line).map_err(fail)?;
            let name = current.as_ref().ok_or_else(|| fail("sample before any TYPE".into()))?;
            let family = exp.families.get_mut(name).expect("current family exists");
            if !belongs(name, &family.kind, &sample.name) {
                return Err(fail(format!("sample outside its family {name}")));
            }
            if !seen.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(fail("series repeated".into()));
            }
            family.samples.push(sample);
        }
    }
    for (name, family) in &exp.families {
        if family.samples.is_empty() {
            return Err(format!("family {name} has no samples"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(exp)
}

/// Buckets ascend by `le`, counts never fall, `+Inf` comes last and equals
/// `_count`; `_sum` exists. (The renderer writes one label-less histogram.)
fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    let bucket_name = format!("{name}_bucket");
    let buckets: Vec<&Sample> = family.samples.iter().filter(|s| s.name == bucket_name).collect();
    let mut last = (f64::NEG_INFINITY, 0.0);
    for b in &buckets {
        let le = b.labels.get("le").ok_or_else(|| format!("{name}: a bucket without le"))?;
        let le = parse_value(le)?;
        if le <= last.0 || b.value < last.1 {
            return Err(format!("{name}: bucket le={le} out of order or not cumulative"));
        }
        last = (le, b.value);
    }
    let count = family.samples.iter().find(|s| s.name == format!("{name}_count")).ok_or("no _count")?;
    family.samples.iter().find(|s| s.name == format!("{name}_sum")).ok_or("no _sum")?;
    if last.0 != f64::INFINITY || last.1 != count.value {
        return Err(format!("{name}: the +Inf bucket {} is not _count {}", last.1, count.value));
    }
    Ok(())
}
