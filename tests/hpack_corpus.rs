//! Interop against the public hpack-test-case corpus
//! (`../shared/hpack-test-case` next to the repository):
//!
//! 1. every story of every encoder folder decodes to the listed header
//!    lists, in order, with one decoder context per story;
//! 2. every `raw-data` story survives our encoder + our decoder;
//! 3. our compression ratio is compared with the corpus encoders'.
//!
//! Missing corpus: the tests print `SKIPPED` and pass, unless `CI` is set.

use std::fs;
use std::path::{Path, PathBuf};

use h2ring::h2::hpack::{DecodeLimits, HpackDecoder, HpackEncoder};
use serde_json::Value;

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

struct Case {
    /// SETTINGS_HEADER_TABLE_SIZE sent (and acknowledged) before this case.
    table_size: Option<usize>,
    wire: Vec<u8>,
    headers: Headers,
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/hpack-test-case");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("hpack-test-case corpus not found at {} (required when CI is set)", dir.display());
    }
    eprintln!("\n*** SKIPPED: hpack-test-case corpus not found at {} ***\n", dir.display());
    None
}

/// Story folders (everything but raw-data), sorted for stable output.
fn folders(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    out.sort();
    out
}

fn stories(dir: &Path) -> Vec<(String, Vec<Case>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("story_")))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), load(&p))).collect()
}

fn load(path: &Path) -> Vec<Case> {
    let json: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            table_size: c.get("header_table_size").and_then(Value::as_u64).map(|n| n as usize),
            wire: c.get("wire").and_then(Value::as_str).map(unhex).unwrap_or_default(),
            headers: c["headers"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|h| h.as_object().unwrap().iter())
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_str().unwrap().as_bytes().to_vec()))
                .collect(),
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn decode(dec: &mut HpackDecoder, wire: &[u8]) -> Headers {
    let mut out = Vec::new();
    dec.decode(wire, DecodeLimits::UNLIMITED, |f| out.push((f.name.to_vec(), f.value.to_vec()))).unwrap();
    out
}

fn raw_size(cases: &[Case]) -> usize {
    cases.iter().flat_map(|c| &c.headers).map(|(n, v)| n.len() + v.len()).sum()
}

#[test]
fn decode_every_encoder_folder() {
    let Some(dir) = corpus_dir() else { return };
    let mut total = 0;
    for (folder, path) in folders(&dir) {
        if folder == "raw-data" {
            continue;
        }
        for (story, cases) in stories(&path) {
            let mut dec = HpackDecoder::new(4096);
            for (i, case) in cases.iter().enumerate() {
                if let Some(n) = case.table_size {
                    dec.set_max_table_size(n);
                }
                let mut got = Vec::new();
                let r = dec.decode(&case.wire, DecodeLimits::UNLIMITED, |f| {
                    got.push((f.name.to_vec(), f.value.to_vec()));
                });
                assert_eq!(r, Ok(()), "{folder}/{story} case {i}");
                assert!(got == case.headers, "{folder}/{story} case {i}: header list differs");
                total += 1;
            }
        }
    }
    assert!(total > 10_000, "only {total} cases found");
    println!("decoded {total} corpus header blocks");
}

#[test]
fn raw_data_round_trips_and_compresses_well() {
    let Some(dir) = corpus_dir() else { return };

    // Ours: one encoder + decoder context per raw-data story.
    let raw = stories(&dir.join("raw-data"));
    assert!(!raw.is_empty());
    let (mut ours_wire, mut ours_raw) = (0, 0);
    let mut block = Vec::new();
    for (story, cases) in &raw {
        let mut enc = HpackEncoder::new();
        let mut dec = HpackDecoder::new(4096);
        for (i, case) in cases.iter().enumerate() {
            block.clear();
            enc.encode(case.headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())), &mut block);
            assert_eq!(decode(&mut dec, &block), case.headers, "raw-data/{story} case {i}");
            assert_eq!(enc.table_size(), dec.table_size(), "raw-data/{story} case {i}");
            ours_wire += block.len();
        }
        ours_raw += raw_size(cases);
    }
    let ours = ours_wire as f64 / ours_raw as f64;

    // The corpus encoders, over the same stories.
    let mut rows = Vec::new();
    for (folder, path) in folders(&dir) {
        if folder == "raw-data" {
            continue;
        }
        let (mut wire, mut raw_bytes, mut n) = (0, 0, 0);
        for (_, cases) in stories(&path) {
            wire += cases.iter().map(|c| c.wire.len()).sum::<usize>();
            raw_bytes += raw_size(&cases);
            n += 1;
        }
        rows.push((folder, n, wire, raw_bytes, wire as f64 / raw_bytes as f64));
    }
    rows.sort_by(|a, b| a.4.total_cmp(&b.4));

    println!();
    println!("compression ratio = encoded header block octets / raw octets,");
    println!("raw = sum over all fields of len(name) + len(value) (hpack-test-case definition); lower is better");
    println!("{:<32} {:>7} {:>10} {:>10} {:>7}", "encoder", "stories", "encoded", "raw", "ratio");
    println!("{:<32} {:>7} {:>10} {:>10} {:>7.4}", "h2ring (this crate)", raw.len(), ours_wire, ours_raw, ours);
    for (folder, n, wire, raw_bytes, ratio) in &rows {
        println!("{folder:<32} {n:>7} {wire:>10} {raw_bytes:>10} {ratio:>7.4}");
    }

    let ratios: Vec<f64> = rows.iter().map(|r| r.4).collect();
    let median = ratios[ratios.len() / 2];
    let best = ratios[0];
    println!("median of corpus encoders {median:.4}, best {best:.4}");
    assert!(ours <= median, "our ratio {ours:.4} is worse than the corpus median {median:.4}");
    // Measured: 0.3087, slightly better than the best corpus encoder
    // (nghttp2, 0.3100). Keep within 1% of it so regressions show.
    assert!(ours <= best * 1.01, "our ratio {ours:.4} is more than 1% worse than the best {best:.4}");
}
