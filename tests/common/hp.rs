//! Header blocks by hand (RFC 7541), never through our encoder. Static table indices used: 1 :authority,
//! 2 :method, 3 :method GET, 4 :path, 4 :path /, 6 :scheme http, 7 :scheme https, 8 :status 200.

/// §5.1 prefixed integer; `flags` are the bits above the `prefix` in the first octet.
pub fn int(value: usize, prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut v = value - max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// §5.2 string literal, H = 0.
pub fn string(s: &[u8], out: &mut Vec<u8>) {
    int(s.len(), 7, 0, out);
    out.extend_from_slice(s);
}

/// §6.1 indexed header field.
pub fn indexed(index: usize) -> Vec<u8> {
    let mut out = Vec::new();
    int(index, 7, 0x80, &mut out);
    out
}

fn literal_new(flags: u8, name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    string(name, &mut out);
    string(value, &mut out);
    out
}

/// §6.2.2 literal without indexing, new name (`0x00`).
pub fn literal(name: &str, value: &str) -> Vec<u8> {
    literal_new(0x00, name.as_bytes(), value.as_bytes())
}

pub fn literal_bytes(name: &[u8], value: &[u8]) -> Vec<u8> {
    literal_new(0x00, name, value)
}

/// §6.2.2 literal without indexing, indexed name (`0000xxxx`).
pub fn literal_name(index: usize, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    int(index, 4, 0x00, &mut out);
    string(value.as_bytes(), &mut out);
    out
}

/// §6.2.1 literal with incremental indexing, new name (`0x40`).
pub fn incremental(name: &str, value: &str) -> Vec<u8> {
    literal_new(0x40, name.as_bytes(), value.as_bytes())
}

/// §6.2.3 literal never indexed, new name (`0x10`).
pub fn never(name: &str, value: &str) -> Vec<u8> {
    literal_new(0x10, name.as_bytes(), value.as_bytes())
}

/// §6.3 dynamic table size update (`001xxxxx`).
pub fn size_update(size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    int(size, 5, 0x20, &mut out);
    out
}

pub const GET: u8 = 0x82;
pub const POST: u8 = 0x83;
pub const PATH_ROOT: u8 = 0x84;
pub const HTTPS: u8 = 0x87;

/// `:method`, `:scheme https`, `:path`, `:authority example.com`.
pub fn request(method: &str, path: &str) -> Vec<u8> {
    let mut b = match method {
        "GET" => vec![GET],
        "POST" => vec![POST],
        m => literal_name(2, m),
    };
    b.push(HTTPS);
    if path == "/" {
        b.push(PATH_ROOT);
    } else {
        b.extend(literal_name(4, path));
    }
    b.extend(literal_name(1, "example.com"));
    b
}

pub fn get(path: &str) -> Vec<u8> {
    request("GET", path)
}

pub fn post(path: &str) -> Vec<u8> {
    request("POST", path)
}

/// One representation of a block, classified by its first octet (§6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr {
    Indexed(usize),
    Incremental,
    Without,
    Never,
    SizeUpdate(usize),
}

fn read_int(b: &[u8], pos: &mut usize, prefix: u8) -> usize {
    let max = (1usize << prefix) - 1;
    let mut v = usize::from(b[*pos]) & max;
    *pos += 1;
    if v < max {
        return v;
    }
    let mut shift = 0;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v += usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return v;
        }
    }
}

fn skip_string(b: &[u8], pos: &mut usize) {
    let len = read_int(b, pos, 7);
    *pos += len;
}

/// Walks a block and lists its representations (our own reading of §6, to check *how* the server encoded).
pub fn representations(b: &[u8]) -> Vec<Repr> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < b.len() {
        let first = b[pos];
        let (repr, prefix) = if first & 0x80 != 0 {
            out.push(Repr::Indexed(read_int(b, &mut pos, 7)));
            continue;
        } else if first & 0xc0 == 0x40 {
            (Repr::Incremental, 6)
        } else if first & 0xe0 == 0x20 {
            out.push(Repr::SizeUpdate(read_int(b, &mut pos, 5)));
            continue;
        } else if first & 0xf0 == 0x10 {
            (Repr::Never, 4)
        } else {
            (Repr::Without, 4)
        };
        if read_int(b, &mut pos, prefix) == 0 {
            skip_string(b, &mut pos);
        }
        skip_string(b, &mut pos);
        out.push(repr);
    }
    out
}
