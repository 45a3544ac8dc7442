//! What machines read: the Atom feed (RFC 4287), the sitemap
//! (sitemaps.org protocol 0.9) and robots.txt (RFC 9309).

use std::fmt::Write;

use super::content::{Content, Date, Post};
use super::markdown::{self, Anchors};

/// Escapes for XML text and quoted attributes, and drops the C0 controls
/// that XML 1.0 cannot carry even as character references (§2.2 `Char`),
/// so a stray form feed in a post cannot make the whole feed unparsable.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 `date-time` at the start of the day (Atom §3.3 requires a
/// time and an offset; posts are dated by day only).
fn timestamp(date: Date) -> String {
    format!("{date}T00:00:00Z")
}

/// The date a post last changed, as its author declares it.
fn last_change(post: &Post) -> Date {
    post.updated.unwrap_or(post.date)
}

pub fn atom(content: &Content) -> String {
    let meta = &content.meta;
    let base = xml_escape(&meta.base_url);
    let posts = content.posts_by_date();
    // With no posts yet the feed still needs an `updated` (§4.1.1).
    let updated = posts.iter().map(|p| last_change(p)).max().unwrap_or(Date::from_system_time(content.modified));
    let mut xml = String::with_capacity(64 * 1024);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{lang}\">\n\
         <id>{base}/</id>\n<title>{title}</title>\n<subtitle>{subtitle}</subtitle>\n<updated>{updated}</updated>\n\
         <author><name>{author}</name></author>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{base}/feed.xml\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{base}/\"/>\n<generator>h2ring</generator>\n",
        lang = xml_escape(&meta.language),
        title = xml_escape(&meta.title),
        subtitle = xml_escape(&meta.description),
        updated = timestamp(updated),
        author = xml_escape(&meta.author),
    );
    for post in posts {
        let url = format!("{base}/posts/{}", xml_escape(&post.slug));
        // `xml:base` (§2) lets readers resolve the body's relative links
        // (`/static/x.png`, `#section`) against the post, not the feed.
        let _ = write!(
            xml,
            "<entry>\n<id>{url}</id>\n<title>{title}</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>\n\
             <published>{published}</published>\n<updated>{updated}</updated>\n<summary>{summary}</summary>\n\
             <content type=\"html\" xml:base=\"{url}\">{html}</content>\n</entry>\n",
            title = xml_escape(&post.title),
            published = timestamp(post.date),
            updated = timestamp(last_change(post)),
            summary = xml_escape(&post.summary),
            html = xml_escape(&markdown::to_html(&post.markdown, Anchors::Plain)),
        );
    }
    xml.push_str("</feed>\n");
    xml
}

pub fn sitemap(content: &Content) -> String {
    let base = xml_escape(&content.meta.base_url);
    let posts = content.posts_by_date();
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    let url = |xml: &mut String, path: &str, lastmod: Option<Date>| {
        let _ = write!(xml, "<url><loc>{base}{}</loc>", xml_escape(path));
        if let Some(date) = lastmod {
            let _ = write!(xml, "<lastmod>{date}</lastmod>");
        }
        xml.push_str("</url>\n");
    };
    url(&mut xml, "/", posts.iter().map(|p| last_change(p)).max());
    // The about page has no date of its own; its file time is the best
    // statement of when it changed.
    url(&mut xml, "/about", Some(Date::from_system_time(content.about.modified)));
    for post in posts {
        url(&mut xml, &format!("/posts/{}", post.slug), Some(last_change(post)));
    }
    xml.push_str("</urlset>\n");
    xml
}

/// Everything may be crawled; the sitemap must be an absolute URL
/// (RFC 9309 §2.2.4).
pub fn robots(content: &Content) -> String {
    format!("User-agent: *\nAllow: /\n\nSitemap: {}/sitemap.xml\n", content.meta.base_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::content::{load, tests::fixture};

    const ATOM: &str = "http://www.w3.org/2005/Atom";

    #[test]
    fn atom_feed_parses_with_entries_newest_first() {
        let t = fixture("atom");
        t.write(
            "posts/new.md",
            crate::site::content::tests::post("updated: 2026-04-01\n", "## A & B\n\n<i>x</i>\u{c}\n"),
        );
        let content = load(&t.0).unwrap();
        let xml = atom(&content);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let feed = doc.root_element();
        assert_eq!(feed.tag_name().namespace(), Some(ATOM));
        let child = |n: roxmltree::Node<'_, '_>, name: &str| {
            n.children().find(|c| c.has_tag_name((ATOM, name))).and_then(|c| c.text()).map(str::to_owned)
        };
        assert_eq!(child(feed, "id").as_deref(), Some("https://blog.example/"));
        assert_eq!(child(feed, "title").as_deref(), Some("Test <Blog>"));
        assert_eq!(child(feed, "subtitle").as_deref(), Some("Notes & things"));
        assert_eq!(child(feed, "updated").as_deref(), Some("2026-04-01T00:00:00Z"));
        let self_link = feed.children().find(|c| c.has_tag_name((ATOM, "link")) && c.attribute("rel") == Some("self"));
        assert_eq!(self_link.unwrap().attribute("href"), Some("https://blog.example/feed.xml"));

        let entries: Vec<_> = feed.children().filter(|c| c.has_tag_name((ATOM, "entry"))).collect();
        let ids: Vec<_> = entries.iter().map(|e| child(*e, "id").unwrap()).collect();
        // Pinned "pin" (2024) is not first here: the feed is by date.
        assert_eq!(
            ids,
            ["https://blog.example/posts/new", "https://blog.example/posts/old", "https://blog.example/posts/pin"]
        );
        let new = entries[0];
        assert_eq!(child(new, "published").as_deref(), Some("2026-03-12T00:00:00Z"));
        assert_eq!(child(new, "updated").as_deref(), Some("2026-04-01T00:00:00Z"));
        let body = new.children().find(|c| c.has_tag_name((ATOM, "content"))).unwrap();
        assert_eq!(body.attribute("type"), Some("html"));
        // The escaped text is the rendered HTML, without self-links.
        assert_eq!(body.text(), Some("<h2 id=\"a-b\">A &amp; B</h2>\n<p>&lt;i&gt;x&lt;/i&gt;</p>\n"));
    }

    #[test]
    fn sitemap_lists_pages_in_order() {
        let content = load(&fixture("sitemap").0).unwrap();
        let xml = sitemap(&content);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let ns = "http://www.sitemaps.org/schemas/sitemap/0.9";
        assert!(doc.root_element().has_tag_name((ns, "urlset")));
        let text = |u: roxmltree::Node<'_, '_>, name: &str| {
            u.children().find(|c| c.has_tag_name((ns, name))).and_then(|c| c.text()).unwrap().to_owned()
        };
        let urls: Vec<(String, String)> = doc
            .root_element()
            .children()
            .filter(|c| c.is_element())
            .map(|u| (text(u, "loc"), text(u, "lastmod")))
            .collect();
        let locs: Vec<&str> = urls.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            locs,
            [
                "https://blog.example/",
                "https://blog.example/about",
                "https://blog.example/posts/new",
                "https://blog.example/posts/old",
                "https://blog.example/posts/pin"
            ]
        );
        assert_eq!(urls[0].1, "2026-04-01");
        assert_eq!(urls[2].1, "2026-04-01");
        assert_eq!(urls[4].1, "2024-06-30");
        assert!(Date::parse(&urls[1].1).is_ok());
    }

    #[test]
    fn robots_points_at_the_sitemap() {
        let content = load(&fixture("robots").0).unwrap();
        assert_eq!(robots(&content), "User-agent: *\nAllow: /\n\nSitemap: https://blog.example/sitemap.xml\n");
    }

    #[test]
    fn xml_escape_drops_what_xml_cannot_carry() {
        assert_eq!(xml_escape("a\u{0}b\u{c}<&>\"'\n"), "ab&lt;&amp;&gt;&quot;&apos;\n");
    }
}
