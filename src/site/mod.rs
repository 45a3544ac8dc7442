//! The blog: Markdown in `content/` rendered once (at start-up, and again
//! on SIGHUP) into an immutable in-memory site that answers every request
//! with a lookup and a header encode.
//!
//! Two halves meet at [`RenderedSite`]:
//! - [`content`] reads and validates `content/`, [`render`] turns it into
//!   pages ([`markdown`], [`templates`], [`feed`]);
//! - [`resource`] precompresses each page and prebuilds its header fields,
//!   [`negotiate`] and [`conditional`] read the request's `accept-encoding`
//!   and validators, and [`handler`] routes requests to resources.

pub mod conditional;
pub mod content;
pub mod export;
pub mod feed;
pub mod handler;
pub mod markdown;
pub mod negotiate;
pub mod render;
pub mod resource;
pub mod templates;

use std::time::SystemTime;

use bytes::Bytes;

/// How long caches may keep a page without asking again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachePolicy {
    /// HTML pages: they change when a post is edited, so a few minutes,
    /// then revalidation by `etag`.
    Html,
    /// The Atom feed, sitemap and robots.txt: polled by machines.
    Feed,
    /// Fingerprinted assets (`/style.<hash>.css`): the URL changes when
    /// the bytes do, so a year and `immutable` (RFC 8246).
    Immutable,
    /// Unfingerprinted assets (favicon, `content/static/`).
    Asset,
    /// The 404 page.
    NotFound,
}

impl CachePolicy {
    pub fn cache_control(self) -> &'static str {
        match self {
            Self::Html => "public, max-age=300",
            Self::Feed => "public, max-age=3600",
            Self::Immutable => "public, max-age=31536000, immutable",
            Self::Asset => "public, max-age=86400",
            Self::NotFound => "public, max-age=60",
        }
    }
}

/// One rendered resource, before compression and header building.
#[derive(Clone, Debug)]
pub struct Page {
    /// The request path it answers: `/`, `/posts/<slug>`, `/about`,
    /// `/feed.xml`, `/style.<hash>.css`, … (empty for the 404 page).
    pub path: String,
    /// With a charset for text types, e.g. `text/html; charset=utf-8`.
    pub content_type: &'static str,
    pub body: Bytes,
    /// Sent as `last-modified` (whole seconds are what HTTP dates carry).
    pub last_modified: SystemTime,
    pub cache: CachePolicy,
}

/// Everything the site serves, rendered.
#[derive(Clone, Debug)]
pub struct RenderedSite {
    pub pages: Vec<Page>,
    /// Served with status 404 for every path no page answers.
    pub not_found: Page,
}

/// What [`load`] rendered, for the start-up and reload lines.
#[derive(Clone, Copy, Debug)]
pub struct LoadSummary {
    pub posts: usize,
    pub resources: usize,
    /// Bytes of every variant held in memory (identity, gzip, brotli).
    pub bytes: usize,
}

/// Reads, validates and renders `dir`, then precompresses every page: the
/// whole cost of a site, paid once at start-up or SIGHUP.
pub fn load(dir: &std::path::Path) -> Result<(handler::Site, LoadSummary), content::ContentError> {
    let content = content::load(dir)?;
    let site = handler::Site::build(render::render(&content));
    let mut summary = LoadSummary { posts: content.posts.len(), resources: 0, bytes: 0 };
    for (_, resource) in site.resources() {
        summary.resources += 1;
        summary.bytes += resource.variants().map(|v| v.body().len()).sum::<usize>();
    }
    Ok((site, summary))
}
