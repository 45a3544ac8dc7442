//! The HTML pages, as plain functions that build strings.
//!
//! Every value from `content/` goes through [`escape`] exactly once, where
//! it is written; Markdown bodies arrive already rendered by
//! [`super::markdown`]. The pages load nothing but `/style.<hash>.css` and
//! `/favicon.ico` from this origin and carry no inline style or script, so
//! they work under `default-src 'none'; style-src 'self'; img-src 'self'`.

use std::fmt::Write;

use super::content::{About, Date, Post, SiteMeta};

/// Escapes text for HTML text and for quoted attribute values alike
/// (HTML Living Standard §13.1.2.3/§13.1.2.6: `&` and `<` end text, `"`
/// and `'` end attribute values; `>` is escaped for old parsers).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every page shares: the site settings and the fingerprinted
/// stylesheet's path.
pub struct Site<'a> {
    pub meta: &'a SiteMeta,
    pub stylesheet: &'a str,
}

/// The navigation entry marked `aria-current="page"`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Posts,
    About,
    Nothing,
}

struct Head<'a> {
    /// The whole `<title>`.
    title: &'a str,
    description: &'a str,
    /// The page's own path, for the canonical link; `None` on the 404 page,
    /// which has no URL of its own and must not be indexed.
    path: Option<&'a str>,
    nav: Nav,
}

fn layout(site: &Site, head: &Head, main: &str) -> String {
    let meta = site.meta;
    let mut html = String::with_capacity(main.len() + 2048);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<title>{title}</title>\n\
         <meta name=\"description\" content=\"{description}\">\n<meta name=\"author\" content=\"{author}\">\n",
        lang = escape(&meta.language),
        title = escape(head.title),
        description = escape(head.description),
        author = escape(&meta.author),
    );
    match head.path {
        Some(path) => {
            let _ = writeln!(html, "<link rel=\"canonical\" href=\"{}{}\">", escape(&meta.base_url), escape(path));
        }
        None => html.push_str("<meta name=\"robots\" content=\"noindex\">\n"),
    }
    let _ = write!(
        html,
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{site_title}\" href=\"/feed.xml\">\n\
         <link rel=\"stylesheet\" href=\"{css}\">\n<link rel=\"icon\" href=\"/favicon.ico\">\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"site-header\">\n<a class=\"site-title\" href=\"/\">{site_title}</a>\n\
         <nav aria-label=\"Site\">\n<ul>\n<li><a href=\"/\"{posts}>Posts</a></li>\n\
         <li><a href=\"/about\"{about}>About</a></li>\n<li><a href=\"/feed.xml\">Feed</a></li>\n</ul>\n</nav>\n\
         </header>\n<main id=\"main\">\n{main}</main>\n\
         <footer class=\"site-footer\">\n<p>{author} · <a href=\"/feed.xml\">Atom feed</a></p>\n\
         <p>Served by h2ring over HTTP/2.</p>\n</footer>\n</body>\n</html>\n",
        site_title = escape(&meta.title),
        css = escape(site.stylesheet),
        posts = current(head.nav == Nav::Posts),
        about = current(head.nav == Nav::About),
        author = escape(&meta.author),
    );
    html
}

fn current(yes: bool) -> &'static str {
    if yes { " aria-current=\"page\"" } else { "" }
}

fn time(date: Date) -> String {
    format!("<time datetime=\"{date}\">{}</time>", date.human())
}

/// `12 Mar 2026 · 9 min read`, with the update date when there is one.
fn post_meta(post: &Post) -> String {
    let mut meta = format!("{} · {} min read", time(post.date), post.reading_time);
    if let Some(updated) = post.updated {
        let _ = write!(meta, " · updated {}", time(updated));
    }
    meta
}

pub fn post_path(post: &Post) -> String {
    format!("/posts/{}", post.slug)
}

/// The home page: every post, in the order given (pinned first, then
/// newest first).
pub fn index(site: &Site, posts: &[Post]) -> String {
    let meta = site.meta;
    let mut main = format!(
        "<header class=\"intro\">\n<h1>{}</h1>\n<p>{}</p>\n</header>\n",
        escape(&meta.title),
        escape(&meta.description)
    );
    if posts.is_empty() {
        main.push_str("<p>No posts yet.</p>\n");
    } else {
        main.push_str("<ul class=\"post-list\">\n");
        for post in posts {
            let pinned = if post.pinned { "<span class=\"pinned\">Pinned</span> " } else { "" };
            let _ = write!(
                main,
                "<li>\n<article class=\"post-card\">\n<h2><a href=\"{path}\">{title}</a></h2>\n\
                 <p class=\"post-meta\">{pinned}{meta}</p>\n<p class=\"summary\">{summary}</p>\n</article>\n</li>\n",
                path = escape(&post_path(post)),
                title = escape(&post.title),
                meta = post_meta(post),
                summary = escape(&post.summary),
            );
        }
        main.push_str("</ul>\n");
    }
    layout(site, &Head { title: &meta.title, description: &meta.description, path: Some("/"), nav: Nav::Posts }, &main)
}

/// One post. `newer` and `older` are its neighbours by date.
pub fn post(site: &Site, post: &Post, body: &str, newer: Option<&Post>, older: Option<&Post>) -> String {
    let mut main = format!(
        "<article class=\"post\">\n<header class=\"post-header\">\n<h1>{title}</h1>\n<p class=\"post-meta\">{meta}</p>\n\
         </header>\n<div class=\"prose\">\n{body}</div>\n<footer class=\"post-footer\">\n",
        title = escape(&post.title),
        meta = post_meta(post),
    );
    if newer.is_some() || older.is_some() {
        main.push_str("<nav class=\"post-nav\" aria-label=\"More posts\">\n");
        for (class, label, other) in [("newer", "Newer", newer), ("older", "Older", older)] {
            if let Some(p) = other {
                let _ = writeln!(
                    main,
                    "<a class=\"{class}\" href=\"{}\"><span>{label}</span> {}</a>",
                    escape(&post_path(p)),
                    escape(&p.title)
                );
            }
        }
        main.push_str("</nav>\n");
    }
    main.push_str("<p><a href=\"/\">← All posts</a></p>\n</footer>\n</article>\n");
    let title = format!("{} — {}", post.title, site.meta.title);
    let path = post_path(post);
    layout(site, &Head { title: &title, description: &post.summary, path: Some(&path), nav: Nav::Nothing }, &main)
}

pub fn about(site: &Site, about: &About, body: &str) -> String {
    let main = format!(
        "<article class=\"page\">\n<header class=\"post-header\">\n<h1>{}</h1>\n</header>\n<div class=\"prose\">\n{body}</div>\n</article>\n",
        escape(&about.title)
    );
    let title = format!("{} — {}", about.title, site.meta.title);
    layout(site, &Head { title: &title, description: &about.summary, path: Some("/about"), nav: Nav::About }, &main)
}

pub fn not_found(site: &Site) -> String {
    let main = "<article class=\"page\">\n<header class=\"post-header\">\n<h1>Page not found</h1>\n</header>\n\
                <p>Nothing lives at this address. Perhaps it moved, or the link has a typo.</p>\n\
                <p><a href=\"/\">← All posts</a></p>\n</article>\n";
    let title = format!("Page not found — {}", site.meta.title);
    layout(site, &Head { title: &title, description: &site.meta.description, path: None, nav: Nav::Nothing }, main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn meta() -> SiteMeta {
        SiteMeta {
            title: "Tom & Jerry's <Blog>".into(),
            description: "Say \"hi\"".into(),
            author: "A <b>".into(),
            base_url: "https://e.org".into(),
            language: "en".into(),
        }
    }

    fn a_post(slug: &str, pinned: bool) -> Post {
        Post {
            slug: slug.into(),
            title: format!("<{slug}> & 'co'"),
            date: Date { year: 2026, month: 3, day: 12 },
            updated: Some(Date { year: 2026, month: 4, day: 1 }),
            reading_time: 9,
            summary: "x < y".into(),
            pinned,
            markdown: String::new(),
            modified: UNIX_EPOCH,
        }
    }

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        let m = meta();
        let site = Site { meta: &m, stylesheet: "/style.0123456789.css" };
        let html = post(&site, &a_post("p", false), "<p>body</p>\n", None, Some(&a_post("q", false)));
        assert!(
            html.contains("<title>&lt;p&gt; &amp; &#39;co&#39; — Tom &amp; Jerry&#39;s &lt;Blog&gt;</title>"),
            "{html}"
        );
        assert!(html.contains("<meta name=\"description\" content=\"x &lt; y\">"), "{html}");
        assert!(html.contains("<link rel=\"canonical\" href=\"https://e.org/posts/p\">"), "{html}");
        assert!(html.contains("<time datetime=\"2026-03-12\">12 Mar 2026</time> · 9 min read · updated <time datetime=\"2026-04-01\">1 Apr 2026</time>"), "{html}");
        assert!(
            html.contains("<a class=\"older\" href=\"/posts/q\"><span>Older</span> &lt;q&gt; &amp; &#39;co&#39;</a>"),
            "{html}"
        );
        assert!(html.contains("<p>body</p>") && html.contains("A &lt;b&gt; ·"), "{html}");
        // Nothing the CSP would refuse.
        assert!(!html.contains("<script") && !html.contains("style=") && !html.contains("<style"), "{html}");
    }

    #[test]
    fn index_lists_and_marks_pinned() {
        let m = meta();
        let site = Site { meta: &m, stylesheet: "/style.0123456789.css" };
        let html = index(&site, &[a_post("a", true), a_post("b", false)]);
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"));
        let a = html.find("href=\"/posts/a\"").unwrap();
        let b = html.find("href=\"/posts/b\"").unwrap();
        assert!(a < b);
        assert_eq!(html.matches("<span class=\"pinned\">Pinned</span>").count(), 1);
        assert!(html.contains("<title>Tom &amp; Jerry&#39;s &lt;Blog&gt;</title>"));
        assert!(html.contains("<a href=\"/\" aria-current=\"page\">Posts</a>"));
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/style.0123456789.css\">"));
        assert!(index(&site, &[]).contains("No posts yet."));
    }

    #[test]
    fn not_found_links_home_and_is_not_indexed() {
        let m = meta();
        let html = not_found(&Site { meta: &m, stylesheet: "/s.css" });
        assert!(html.contains("<a href=\"/\">← All posts</a>"));
        assert!(html.contains("noindex") && !html.contains("canonical"));
    }
}
