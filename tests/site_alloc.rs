//! `Site::answer` allocates nothing: every response borrows its fields
//! from the site and shares its body by refcount. Checked with a global
//! allocator that counts, per thread, the allocations this test makes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::SystemTime;

use bytes::Bytes;
use h2ring::h2::conn::Method;
use h2ring::site::handler::{Query, Site};
use h2ring::site::{CachePolicy, Page, RenderedSite};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is passed unchanged to the system allocator; the
// counter is a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is the one `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn page(path: &str, content_type: &'static str, body: Vec<u8>) -> Page {
    Page {
        path: path.into(),
        content_type,
        body: body.into(),
        last_modified: SystemTime::now(),
        cache: CachePolicy::Html,
    }
}

#[test]
fn answering_allocates_nothing() {
    let html = "<p>The quick brown fox jumps over the lazy dog.</p>\n".repeat(400).into_bytes();
    let site = Site::build(RenderedSite {
        pages: vec![
            page("/", "text/html; charset=utf-8", html.clone()),
            page("/bin", "application/octet-stream", vec![7; 5000]),
        ],
        not_found: page("", "text/html; charset=utf-8", html),
    });
    let br_etag = {
        let (_, index) = site.resources().next().unwrap();
        let v = index.variants().find(|v| v.encoding().token() == "br").unwrap();
        Bytes::copy_from_slice(v.etag())
    };
    let base =
        Query { method: Method::Get, path: b"/", accept_encoding: None, if_none_match: None, if_modified_since: None };
    let queries = [
        (base, 200),
        (Query { accept_encoding: Some(b"gzip, deflate, br, zstd"), ..base }, 200),
        (Query { accept_encoding: Some(b"gzip;q=1, br;q=0.5"), path: b"/?a=b", ..base }, 200),
        (Query { accept_encoding: Some(b"br"), if_none_match: Some(&br_etag), ..base }, 304),
        (Query { if_modified_since: Some(b"Fri, 31 Dec 9999 23:59:59 GMT"), ..base }, 304),
        (Query { method: Method::Head, path: b"/bin", ..base }, 200),
        (Query { path: b"/no/such/%70age", accept_encoding: Some(b"br"), ..base }, 404),
        (Query { path: b"/bin/", ..base }, 308),
        (Query { method: Method::Options, path: b"*", ..base }, 204),
        (Query { method: Method::Post, ..base }, 405),
    ];
    // The counter sees this thread's allocations.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 1]));
    assert_eq!(allocations(), before + 1);

    for (q, status) in queries {
        let before = allocations();
        let response = site.answer(&q);
        assert_eq!(response.status, status, "{q:?}");
        drop(response);
        assert_eq!(allocations(), before, "{q:?} allocated");
    }
}
