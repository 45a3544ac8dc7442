//! Reads and validates `content/`: `site.conf`, `about.md`, `posts/*.md`
//! and the optional `static/` directory.
//!
//! Everything is checked here, once, so rendering cannot fail: a typo in a
//! key, an impossible date or a stray file stops start-up (or a reload) with
//! one line naming the file, and the line where it helps.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar date (proleptic Gregorian, no time zone: posts are dated by
/// day). Field order makes the derived `Ord` chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl Date {
    /// Parses exactly `YYYY-MM-DD` (the RFC 3339 `full-date`), rejecting
    /// dates that do not exist such as 2026-02-30.
    pub fn parse(s: &str) -> Result<Date, String> {
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit());
        if !shape_ok {
            return Err(format!("\"{s}\" is not a date in the form YYYY-MM-DD"));
        }
        // The shape check guarantees ASCII digits, so these cannot fail.
        let num = |r: std::ops::Range<usize>| s[r].parse::<u16>().unwrap_or(0);
        let (year, month, day) = (num(0..4), num(5..7), num(8..10));
        if year == 0 {
            return Err(format!("\"{s}\": year 0000 does not exist"));
        }
        if !(1..=12).contains(&month) {
            return Err(format!("\"{s}\": there is no month {month}"));
        }
        let (month, day) = (month as u8, day as u8);
        let last = days_in_month(year, month);
        if day == 0 || day > last {
            let name = MONTHS[usize::from(month - 1)];
            return Err(format!("\"{s}\": {name} {year} has {last} days"));
        }
        Ok(Date { year, month, day })
    }

    /// The UTC calendar day of a file time (clamped to 1970..=9999), for the
    /// sitemap's `lastmod` of pages that carry no date of their own.
    pub fn from_system_time(t: SystemTime) -> Date {
        let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        // Howard Hinnant's `civil_from_days`, shifted so years start on 1 March.
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        if year > 9999 {
            return Date { year: 9999, month: 12, day: 31 };
        }
        Date { year: year as u16, month, day }
    }

    /// The date as people read it on the page: `12 Mar 2026`.
    pub fn human(&self) -> String {
        // `get`: the fields are public, so a hand-built Date may be invalid.
        let month = MONTHS.get(usize::from(self.month).wrapping_sub(1)).unwrap_or(&"???");
        format!("{} {month} {}", self.day, self.year)
    }
}

/// `YYYY-MM-DD`: what `<time datetime>`, the sitemap and RFC 3339 expect.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// What is wrong, and in which file. Displayed as one line:
/// `content/posts/foo.md: front matter: missing "date"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ContentError {}

fn error(path: &Path, reason: impl Into<String>) -> ContentError {
    ContentError { path: path.to_path_buf(), reason: reason.into() }
}

/// `site.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteMeta {
    pub title: String,
    pub description: String,
    pub author: String,
    /// `scheme://host[:port]`, no trailing slash: paths are appended as is.
    pub base_url: String,
    pub language: String,
}

#[derive(Clone, Debug)]
pub struct Post {
    pub slug: String,
    pub title: String,
    pub date: Date,
    pub updated: Option<Date>,
    pub reading_time: u32,
    pub summary: String,
    pub pinned: bool,
    pub markdown: String,
    pub modified: SystemTime,
}

#[derive(Clone, Debug)]
pub struct About {
    pub title: String,
    pub summary: String,
    pub markdown: String,
    pub modified: SystemTime,
}

#[derive(Clone, Debug)]
pub struct StaticFile {
    pub name: String,
    pub body: Vec<u8>,
    pub modified: SystemTime,
}

#[derive(Clone, Debug)]
pub struct Content {
    pub meta: SiteMeta,
    pub about: About,
    /// Pinned first, then newest first, then by slug.
    pub posts: Vec<Post>,
    /// Sorted by name.
    pub statics: Vec<StaticFile>,
    /// The newest modification time of all inputs.
    pub modified: SystemTime,
}

impl Content {
    /// Posts newest first by date, pinned or not (then by slug): the order
    /// of the feed, the sitemap and "newer/older" links, where recency
    /// matters and what the home page features does not.
    pub fn posts_by_date(&self) -> Vec<&Post> {
        let mut posts: Vec<&Post> = self.posts.iter().collect();
        posts.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.slug.cmp(&b.slug)));
        posts
    }
}

/// Loads and validates the content directory `dir`.
pub fn load(dir: &Path) -> Result<Content, ContentError> {
    // Only these names may appear at the top (dotfiles aside), so a
    // misspelt `abuot.md` is an error rather than a silently missing page.
    let mut has_static = false;
    for (name, path) in list_dir(dir)? {
        match name.as_str() {
            "site.conf" | "about.md" => {}
            "posts" => expect_dir(&path)?,
            "static" => {
                expect_dir(&path)?;
                has_static = true;
            }
            _ => return Err(error(&path, "unexpected entry: content/ holds site.conf, about.md, posts/ and static/")),
        }
    }

    let conf_path = dir.join("site.conf");
    let (text, meta_modified) = read_text(&conf_path)?;
    let meta = parse_site_conf(&text).map_err(|r| error(&conf_path, r))?;

    let about_path = dir.join("about.md");
    let (text, modified) = read_text(&about_path)?;
    let about = parse_about(&text, modified).map_err(|r| error(&about_path, r))?;

    let mut posts = Vec::new();
    for (name, path) in list_dir(&dir.join("posts"))? {
        let Some(slug) = name.strip_suffix(".md") else {
            return Err(error(&path, "unexpected file: posts/ holds only <slug>.md files"));
        };
        if !is_slug(slug) {
            return Err(error(&path, format!("bad slug \"{slug}\": use lowercase letters, digits and single hyphens")));
        }
        let (text, modified) = read_text(&path)?;
        posts.push(parse_post(slug, &text, modified).map_err(|r| error(&path, r))?);
    }
    posts.sort_by(|a, b| b.pinned.cmp(&a.pinned).then(b.date.cmp(&a.date)).then_with(|| a.slug.cmp(&b.slug)));

    let mut statics = Vec::new();
    if has_static {
        for (name, path) in list_dir(&dir.join("static"))? {
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
                return Err(error(&path, "bad file name: static files are named with [A-Za-z0-9._-] only"));
            }
            let (body, modified) = read_bytes(&path)?;
            statics.push(StaticFile { name, body, modified });
        }
    }

    let modified = posts
        .iter()
        .map(|p| p.modified)
        .chain(statics.iter().map(|s| s.modified))
        .fold(meta_modified.max(about.modified), SystemTime::max);
    Ok(Content { meta, about, posts, statics, modified })
}

/// `[a-z0-9]+(-[a-z0-9]+)*`: safe in a URL path without escaping.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The entries of `dir` except dotfiles (`.gitkeep`, editor swap files),
/// sorted by name so that loading is deterministic.
fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, ContentError> {
    let cannot = |e: std::io::Error| error(dir, format!("cannot read directory: {e}"));
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(error(&path, "file name is not valid UTF-8"));
        };
        if !name.starts_with('.') {
            entries.push((name.to_owned(), path.clone()));
        }
    }
    entries.sort();
    Ok(entries)
}

fn expect_dir(path: &Path) -> Result<(), ContentError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(error(path, "expected a directory")),
        Err(e) => Err(error(path, format!("cannot read: {e}"))),
    }
}

fn read_bytes(path: &Path) -> Result<(Vec<u8>, SystemTime), ContentError> {
    let cannot = |e: std::io::Error| error(path, format!("cannot read: {e}"));
    let mut file = File::open(path).map_err(cannot)?;
    // Size and time come from the open file, so they belong to these bytes
    // even if the file is replaced while we read it.
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(error(path, "not a regular file"));
    }
    let mut body = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut body).map_err(cannot)?;
    Ok((body, meta.modified().map_err(cannot)?))
}

fn read_text(path: &Path) -> Result<(String, SystemTime), ContentError> {
    let (bytes, modified) = read_bytes(path)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, modified)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
            Err(error(path, format!("line {line}: not valid UTF-8")))
        }
    }
}

/// One `key: value` line with its 1-based line number.
struct Field<'a> {
    line: usize,
    key: &'a str,
    value: &'a str,
}

/// The `key: value` lines of `site.conf` or of a front matter block, with
/// unknown and repeated keys refused. `what` prefixes messages
/// (`"front matter: "` or empty).
struct Fields<'a> {
    fields: Vec<Field<'a>>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn parse(
        lines: impl Iterator<Item = (usize, &'a str)>,
        known: &[&str],
        what: &'static str,
    ) -> Result<Self, String> {
        let mut fields: Vec<Field<'a>> = Vec::new();
        for (line, text) in lines {
            if text.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = text.split_once(':') else {
                return Err(format!("line {line}: {what}expected \"key: value\""));
            };
            let (key, value) = (key.trim(), value.trim());
            if !known.contains(&key) {
                let known = known.join(", ");
                return Err(format!("line {line}: {what}unknown key \"{key}\" (known keys: {known})"));
            }
            if let Some(first) = fields.iter().find(|f| f.key == key) {
                return Err(format!("line {line}: {what}duplicate key \"{key}\" (first on line {})", first.line));
            }
            fields.push(Field { line, key, value });
        }
        Ok(Fields { fields, what })
    }

    fn get(&self, key: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// A required, non-empty value.
    fn text(&self, key: &str) -> Result<String, String> {
        let what = self.what;
        let f = self.get(key).ok_or_else(|| format!("{what}missing \"{key}\""))?;
        if f.value.is_empty() {
            return Err(format!("line {}: {what}\"{key}\" is empty", f.line));
        }
        Ok(f.value.to_owned())
    }

    /// Applies `parse` to the value of `key` if present, placing its error.
    fn parse_opt<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
        let Some(f) = self.get(key) else { return Ok(None) };
        parse(f.value).map(Some).map_err(|e| format!("line {}: {}\"{key}\": {e}", f.line, self.what))
    }

    fn parse_req<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, String> {
        self.parse_opt(key, parse)?.ok_or_else(|| format!("{}missing \"{key}\"", self.what))
    }
}

fn parse_site_conf(text: &str) -> Result<SiteMeta, String> {
    let lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim_start().starts_with('#'));
    let f = Fields::parse(lines, &["title", "description", "author", "base_url", "language"], "")?;
    let meta = SiteMeta {
        title: f.text("title")?,
        description: f.text("description")?,
        author: f.text("author")?,
        base_url: f.parse_req("base_url", check_base_url)?,
        language: f.parse_req("language", check_language)?,
    };
    Ok(meta)
}

/// An origin only (`https://example.com[:port]`): pages are linked as
/// `base_url + "/posts/x"`, so a path here would point canonical links,
/// feed ids and the sitemap at URLs this server does not answer.
fn check_base_url(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let Some(authority) = rest else { return Err(format!("\"{s}\" must start with https:// or http://")) };
    if authority.is_empty() {
        return Err(format!("\"{s}\" has no host"));
    }
    if authority.ends_with('/') {
        return Err(format!("\"{s}\" must not end with \"/\""));
    }
    if !authority.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) {
        return Err(format!("\"{s}\" must be scheme://host[:port], without path, query or user"));
    }
    Ok(s.to_owned())
}

/// A BCP 47 tag, loosely: `en`, `en-GB`, `pt-BR` (for `<html lang>` and
/// nothing stricter needs it).
fn check_language(s: &str) -> Result<String, String> {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    let ok = (2..=8).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok { Ok(s.to_owned()) } else { Err(format!("\"{s}\" is not a language tag such as en or en-GB")) }
}

/// Splits `---` / `key: value` lines / `---` from the Markdown after it.
fn front_matter<'a>(text: &'a str, known: &[&str]) -> Result<(Fields<'a>, &'a str), String> {
    const WHAT: &str = "front matter: ";
    // Editors on some systems prepend a byte order mark; it is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut offset = 0;
    let mut closed = None;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        offset += raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i == 0 {
            if line != "---" {
                return Err(format!("{WHAT}the first line must be \"---\""));
            }
        } else if line == "---" {
            closed = Some(offset);
            break;
        } else {
            lines.push((i + 1, line));
        }
    }
    if text.is_empty() {
        return Err(format!("{WHAT}the first line must be \"---\""));
    }
    let body_start = closed.ok_or_else(|| format!("{WHAT}no closing \"---\" line"))?;
    Ok((Fields::parse(lines.into_iter(), known, WHAT)?, &text[body_start..]))
}

fn parse_about(text: &str, modified: SystemTime) -> Result<About, String> {
    let (f, body) = front_matter(text, &["title", "summary"])?;
    Ok(About { title: f.text("title")?, summary: f.text("summary")?, markdown: body.to_owned(), modified })
}

fn parse_post(slug: &str, text: &str, modified: SystemTime) -> Result<Post, String> {
    let known = ["title", "date", "updated", "reading_time", "summary", "pinned"];
    let (f, body) = front_matter(text, &known)?;
    let title = f.text("title")?;
    let date = f.parse_req("date", Date::parse)?;
    let reading_time = f.parse_req("reading_time", |s| match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("\"{s}\" is not a whole number of minutes of at least 1")),
    })?;
    let summary = f.text("summary")?;
    let pinned = f
        .parse_opt("pinned", |s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("\"{s}\" is neither true nor false")),
        })?
        .unwrap_or(false);
    let updated = f.parse_opt("updated", |s| {
        let d = Date::parse(s)?;
        if d < date { Err(format!("{d} is before the post's date {date}")) } else { Ok(d) }
    })?;
    Ok(Post {
        slug: slug.to_owned(),
        title,
        date,
        updated,
        reading_time,
        summary,
        pinned,
        markdown: body.to_owned(),
        modified,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scratch directory removed on drop (tests run in parallel, so each
    /// gets its own name).
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("h2ring-site-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub(crate) fn write(&self, rel: &str, body: impl AsRef<[u8]>) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub(crate) const CONF: &str = "# comment\n\ntitle: Test <Blog>\ndescription: Notes & things\nauthor: A. Writer\n\
        base_url: https://blog.example\nlanguage: en\n";

    pub(crate) fn post(extra: &str, body: &str) -> String {
        format!("---\ntitle: T\ndate: 2026-03-12\nreading_time: 9\nsummary: S\n{extra}---\n{body}")
    }

    /// A valid site with three posts; tests then break one thing.
    pub(crate) fn fixture(tag: &str) -> TempDir {
        let t = TempDir::new(tag);
        t.write("site.conf", CONF);
        t.write("about.md", "---\ntitle: About\nsummary: Who\n---\nHello.\n");
        t.write("posts/old.md", post("", "Old.\n").replace("2026-03-12", "2025-01-01"));
        t.write("posts/new.md", post("updated: 2026-04-01\n", "New.\n"));
        t.write("posts/pin.md", post("pinned: true\n", "Pinned.\n").replace("2026-03-12", "2024-06-30"));
        t.write("posts/.gitkeep", "");
        t
    }

    fn load_err(t: &TempDir) -> String {
        load(&t.0).unwrap_err().to_string()
    }

    #[test]
    fn loads_and_orders_posts() {
        let t = fixture("ok");
        t.write("static/logo.svg", "<svg/>");
        let c = load(&t.0).unwrap();
        assert_eq!(c.meta.title, "Test <Blog>");
        assert_eq!(c.meta.base_url, "https://blog.example");
        let slugs: Vec<&str> = c.posts.iter().map(|p| p.slug.as_str()).collect();
        assert_eq!(slugs, ["pin", "new", "old"]);
        let new = &c.posts[1];
        assert_eq!((new.date.to_string(), new.reading_time, new.pinned), ("2026-03-12".into(), 9, false));
        assert_eq!(new.updated, Some(Date { year: 2026, month: 4, day: 1 }));
        assert_eq!(new.markdown, "New.\n");
        assert_eq!(c.about.markdown, "Hello.\n");
        assert_eq!(c.statics.len(), 1);
        assert!(c.modified >= c.posts.iter().map(|p| p.modified).max().unwrap());
    }

    #[test]
    fn dates() {
        assert_eq!(Date::parse("2024-02-29").unwrap().human(), "29 Feb 2024");
        assert_eq!(Date::parse("2026-03-01").unwrap().to_string(), "2026-03-01");
        for bad in ["2026-02-29", "2026-02-30", "1900-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "26-01-01", ""] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse("2000-02-29").is_ok());
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_773_273_600); // 2026-03-12T00:00:00Z
        assert_eq!(Date::from_system_time(t).to_string(), "2026-03-12");
        assert_eq!(Date::from_system_time(UNIX_EPOCH).to_string(), "1970-01-01");
        assert_eq!(Date::from_system_time(t - std::time::Duration::from_secs(1)).to_string(), "2026-03-11");
    }

    #[test]
    fn front_matter_errors() {
        let cases: &[(&str, &str)] = &[
            ("Just text\n", "posts/x.md: front matter: the first line must be \"---\""),
            ("", "posts/x.md: front matter: the first line must be \"---\""),
            ("---\ntitle: T\n", "posts/x.md: front matter: no closing \"---\" line"),
            (&post("", "").replace("date: 2026-03-12\n", ""), "posts/x.md: front matter: missing \"date\""),
            (&post("tags: a\n", ""), "posts/x.md: line 6: front matter: unknown key \"tags\""),
            (&post("title: U\n", ""), "posts/x.md: line 6: front matter: duplicate key \"title\" (first on line 2)"),
            (
                &post("", "").replace("2026-03-12", "2026-02-30"),
                "line 3: front matter: \"date\": \"2026-02-30\": Feb 2026 has 28 days",
            ),
            (
                &post("", "").replace("ing_time: 9", "ing_time: 0"),
                "line 4: front matter: \"reading_time\": \"0\" is not",
            ),
            (&post("", "").replace("ing_time: 9", "ing_time: nine"), "\"reading_time\": \"nine\" is not"),
            (&post("pinned: yes\n", ""), "line 6: front matter: \"pinned\": \"yes\" is neither true nor false"),
            (&post("updated: 2026-03-11\n", ""), "\"updated\": 2026-03-11 is before the post's date 2026-03-12"),
            (&post("", "").replace("title: T", "title:"), "line 2: front matter: \"title\" is empty"),
            (&post("no colon here\n", ""), "line 6: front matter: expected \"key: value\""),
        ];
        for (text, want) in cases {
            let t = fixture("fm");
            t.write("posts/x.md", text);
            let got = load_err(&t);
            assert!(got.contains(want), "{got:?} should contain {want:?}");
        }
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let t = fixture("crlf");
        t.write("posts/x.md", format!("\u{feff}{}", post("", "Body\n").replace('\n', "\r\n")));
        let c = load(&t.0).unwrap();
        let x = c.posts.iter().find(|p| p.slug == "x").unwrap();
        assert_eq!((x.title.as_str(), x.markdown.as_str()), ("T", "Body\r\n"));
    }

    #[test]
    fn site_conf_errors() {
        let cases = [
            (CONF.replace("title:", "titel:"), "site.conf: line 3: unknown key \"titel\""),
            (CONF.replace("language: en\n", ""), "site.conf: missing \"language\""),
            (format!("{CONF}author: B\n"), "site.conf: line 8: duplicate key \"author\" (first on line 5)"),
            (CONF.replace("https://blog.example", "https://blog.example/"), "must not end with \"/\""),
            (CONF.replace("https://blog.example", "blog.example"), "must start with https:// or http://"),
            (CONF.replace("https://blog.example", "https://blog.example/x"), "without path"),
            (CONF.replace("language: en", "language: english language"), "not a language tag"),
        ];
        for (conf, want) in cases {
            let t = fixture("conf");
            t.write("site.conf", conf);
            let got = load_err(&t);
            assert!(got.contains(want), "{got:?} should contain {want:?}");
        }
    }

    #[test]
    fn file_errors() {
        let t = fixture("slug");
        t.write("posts/Bad_Slug.md", post("", ""));
        assert!(
            load_err(&t).ends_with(
                "posts/Bad_Slug.md: bad slug \"Bad_Slug\": use lowercase letters, digits and single hyphens"
            )
        );
        for bad in ["a--b", "-a", "a-", "", "é"] {
            assert!(!is_slug(bad), "{bad}");
        }

        let t = fixture("stray");
        t.write("posts/notes.txt", "");
        assert!(load_err(&t).ends_with("posts/notes.txt: unexpected file: posts/ holds only <slug>.md files"));

        let t = fixture("top");
        t.write("abuot.md", "");
        assert!(load_err(&t).contains("abuot.md: unexpected entry"));

        let t = fixture("dir");
        fs::create_dir(t.0.join("posts/x.md")).unwrap();
        assert!(load_err(&t).ends_with("posts/x.md: not a regular file"));

        let t = fixture("utf8");
        t.write("posts/x.md", [post("", "ok\n").as_bytes(), b"\xff\n"].concat());
        assert!(load_err(&t).ends_with("posts/x.md: line 8: not valid UTF-8"));

        let t = fixture("about");
        fs::remove_file(t.0.join("about.md")).unwrap();
        let e = load(&t.0).unwrap_err();
        assert_eq!(e.path, t.0.join("about.md"));
        assert!(e.reason.starts_with("cannot read: "), "{e}");

        let t = fixture("static");
        t.write("static/a b.png", "");
        assert!(load_err(&t).contains("static/a b.png: bad file name"));
    }

    /// The real `content/`, once it is written: six posts, one pinned.
    #[test]
    fn real_content_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
        let count = fs::read_dir(dir.join("posts")).map(|d| d.count()).unwrap_or(0);
        if count < 6 {
            return; // still being written
        }
        let c = load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.posts.len(), 6);
        assert_eq!(c.posts.iter().filter(|p| p.pinned).count(), 1);
        assert!(c.posts[0].pinned);
    }
}
