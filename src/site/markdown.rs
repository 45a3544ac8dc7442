//! Markdown to HTML with pulldown-cmark, plus what a long technical post
//! needs: stable heading ids with self-links, tables that scroll on narrow
//! screens, and no raw HTML from the source.

use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::templates::escape;

/// Whether h2–h4 get a visible `#` self-link. Pages want them; feed
/// readers would show a stray `#` after every heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchors {
    SelfLinks,
    Plain,
}

/// Renders one post body (or the about page).
///
/// Smart punctuation is off on purpose: in posts about command lines,
/// `--flag` outside backticks must not become an en dash.
pub fn to_html(markdown: &str, anchors: Anchors) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events: Vec<Event> = Parser::new_ext(markdown, options).map(sanitize).collect();
    let events = decorate(events, anchors);
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// Raw HTML becomes visible text (the site serves no author-supplied
/// markup, and its CSP would refuse scripts and styles anyway), link and
/// image targets with a dangerous scheme become `#`, and footnote ids get a
/// `fn-` prefix so that a footnote named like a heading cannot collide.
fn sanitize(event: Event) -> Event {
    match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        // An HTML block would otherwise float outside any element.
        Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
        Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url, false), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url, true), title, id })
        }
        Event::FootnoteReference(name) => Event::FootnoteReference(format!("fn-{name}").into()),
        Event::Start(Tag::FootnoteDefinition(name)) => {
            Event::Start(Tag::FootnoteDefinition(format!("fn-{name}").into()))
        }
        other => other,
    }
}

/// Relative URLs and http(s)/mailto pass; `data:` only for images (the CSP
/// allows `img-src data:`); anything else (`javascript:`, `vbscript:`, …)
/// is replaced. A scheme is what precedes the first `:` if that comes
/// before any `/`, `?` or `#` (RFC 3986 §4.2).
fn safe_url(url: CowStr, image: bool) -> CowStr {
    let scheme = match url.find([':', '/', '?', '#']) {
        Some(i) if url.as_bytes()[i] == b':' => url[..i].to_ascii_lowercase(),
        _ => return url,
    };
    match scheme.as_str() {
        "http" | "https" | "mailto" => url,
        "data" if image => url,
        _ => CowStr::Borrowed("#"),
    }
}

/// Gives h2–h4 their ids and self-links and wraps tables in a scroller.
fn decorate(events: Vec<Event>, anchors: Anchors) -> Vec<Event> {
    // Explicit `{#id}`s and footnote ids are taken first, so generated ids
    // step around them wherever they occur in the page.
    let mut used: HashSet<String> = HashSet::new();
    for event in &events {
        match event {
            Event::Start(Tag::Heading { id: Some(id), .. }) => used.insert(id.to_string()),
            Event::Start(Tag::FootnoteDefinition(name)) => used.insert(name.to_string()),
            _ => false,
        };
    }

    let mut out = Vec::with_capacity(events.len() + 8);
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Heading { level, id, classes, .. }) => {
                let level = *level;
                let end = (i..events.len())
                    .find(|&j| matches!(events[j], Event::End(TagEnd::Heading(_))))
                    .unwrap_or(events.len());
                let inner = &events[i + 1..end];
                let linked = matches!(level, HeadingLevel::H2 | HeadingLevel::H3 | HeadingLevel::H4);
                let id = match id {
                    Some(id) => Some(id.to_string()),
                    None if linked => Some(unique(slugify(&plain_text(inner)), &mut used)),
                    None => None,
                };
                // Written by hand rather than as `Tag::Heading`: other
                // `{key=value}` attributes are dropped, since they would let
                // a post set `style` or `on*` attributes.
                let mut open = format!("<{level}");
                if let Some(id) = &id {
                    open += &format!(" id=\"{}\"", escape(id));
                }
                if !classes.is_empty() {
                    let classes: Vec<&str> = classes.iter().map(|c| c.as_ref()).collect();
                    open += &format!(" class=\"{}\"", escape(&classes.join(" ")));
                }
                open.push('>');
                out.push(Event::Html(open.into()));
                out.extend(inner.iter().cloned());
                let mut close = String::new();
                if let (Some(id), true, Anchors::SelfLinks) = (&id, linked, anchors) {
                    let id = escape(id);
                    close += &format!(" <a class=\"anchor\" href=\"#{id}\" aria-label=\"Link to this section\">#</a>");
                }
                close += &format!("</{level}>\n");
                out.push(Event::Html(close.into()));
                i = end + 1;
                continue;
            }
            Event::Start(Tag::Table(_)) => out.push(Event::Html("<div class=\"table-wrap\">\n".into())),
            _ => {}
        }
        out.push(events[i].clone());
        if let Event::End(TagEnd::Table) = events[i] {
            out.push(Event::Html("</div>\n".into()));
        }
        i += 1;
    }
    out
}

/// The words of a heading, as a reader sees them.
fn plain_text(events: &[Event]) -> String {
    let mut text = String::new();
    for event in events {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            _ => {}
        }
    }
    text
}

/// Lowercase letters and digits (any script), every other run of
/// characters one `-`: "Flow control & HPACK!" → `flow-control-hpack`.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() { "section".to_owned() } else { slug }
}

/// `base`, or `base-2`, `base-3`, … whichever is free first.
fn unique(base: String, used: &mut HashSet<String>) -> String {
    let mut id = base.clone();
    let mut n = 2;
    while used.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    used.insert(id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(md: &str) -> String {
        to_html(md, Anchors::SelfLinks)
    }

    #[test]
    fn heading_ids_are_unique_and_linked() {
        let out = html(
            "## Flow control & HPACK!\n\n## Flow control & HPACK\n\n### `SETTINGS` frame\n\n## Explicit {#flow-control-hpack-3}\n\n# Title\n\n##### Deep\n",
        );
        assert!(out.contains("<h2 id=\"flow-control-hpack\">Flow control &amp; HPACK! <a class=\"anchor\" href=\"#flow-control-hpack\" aria-label=\"Link to this section\">#</a></h2>"), "{out}");
        // The explicit id is reserved first, so the second generated one skips it.
        assert!(out.contains("<h2 id=\"flow-control-hpack-2\">"), "{out}");
        assert!(out.contains("<h2 id=\"flow-control-hpack-3\">Explicit <a"), "{out}");
        assert!(out.contains("<h3 id=\"settings-frame\"><code>SETTINGS</code> frame <a"), "{out}");
        assert!(out.contains("<h1>Title</h1>") && out.contains("<h5>Deep</h5>"), "{out}");
        assert_eq!(out.matches("id=\"flow-control-hpack").count(), 3);
    }

    #[test]
    fn plain_anchors_for_feeds() {
        let out = to_html("## A {#x .wide onclick=alert(1)}\n", Anchors::Plain);
        assert_eq!(out, "<h2 id=\"x\" class=\"wide\">A</h2>\n");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Über große Flows — 2x!"), "über-große-flows-2x");
        assert_eq!(slugify("?!"), "section");
    }

    #[test]
    fn tables_footnotes_strikethrough_code() {
        let out = html(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\nText[^n] ~~old~~.\n\n[^n]: A note.\n\n```rust\nfn main() {}\n```\n",
        );
        assert!(out.contains("<div class=\"table-wrap\">\n<table>"), "{out}");
        assert!(out.contains("</table>\n</div>"), "{out}");
        assert!(out.contains("<td>1</td>"), "{out}");
        assert!(out.contains("<sup class=\"footnote-reference\"><a href=\"#fn-n\">1</a></sup>"), "{out}");
        assert!(out.contains("<div class=\"footnote-definition\" id=\"fn-n\">"), "{out}");
        assert!(out.contains("<del>old</del>"), "{out}");
        assert!(out.contains("<pre><code class=\"language-rust\">fn main() {}\n</code></pre>"), "{out}");
    }

    #[test]
    fn raw_html_is_escaped() {
        let out = html("<script>alert(1)</script>\n\nInline <b onclick=\"x\">bold</b>.\n");
        assert!(!out.contains("<script") && !out.contains("<b "), "{out}");
        assert!(out.contains("<p>&lt;script&gt;alert(1)&lt;/script&gt;\n</p>"), "{out}");
        assert!(out.contains("Inline &lt;b onclick=\"x\"&gt;bold&lt;/b&gt;."), "{out}");
    }

    #[test]
    fn dangerous_urls_are_neutralized() {
        let out = html(
            "[a](javascript:alert(1)) [b](JavaScript:x) [c](/posts/x#y) [d](https://e.org) ![i](data:image/png;base64,AA) [e](data:text/html,x) [f](a/b:c)",
        );
        assert_eq!(out.matches("href=\"#\"").count(), 3, "{out}");
        assert!(out.contains("href=\"/posts/x#y\"") && out.contains("href=\"https://e.org\""), "{out}");
        assert!(out.contains("src=\"data:image/png;base64,AA\"") && out.contains("href=\"a/b:c\""), "{out}");
    }
}
