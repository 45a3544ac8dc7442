//! Every example of RFC 7541 Appendix C, byte for byte, in both directions:
//! the decoder yields the listed fields and dynamic table, and the encoder
//! (with the same Huffman / indexing choices) produces the listed octets.

use h2ring::h2::hpack::integer::{decode_integer, encode_integer};
use h2ring::h2::hpack::{DecodeLimits, HpackDecoder, HpackEncoder, HuffmanPolicy, Indexing};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

type Fields = Vec<(String, String, bool)>;

fn decode(dec: &mut HpackDecoder, wire: &[u8]) -> Fields {
    let mut out = Vec::new();
    dec.decode(wire, DecodeLimits::UNLIMITED, |f| {
        out.push((
            String::from_utf8(f.name.to_vec()).unwrap(),
            String::from_utf8(f.value.to_vec()).unwrap(),
            f.sensitive,
        ))
    })
    .unwrap();
    out
}

fn table(dec: &HpackDecoder) -> Vec<(String, String)> {
    dec.dynamic_table()
        .map(|(n, v)| (String::from_utf8(n.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap()))
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter().map(|&(n, v)| (n.to_string(), v.to_string(), false)).collect()
}

fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|&(n, v)| (n.to_string(), v.to_string())).collect()
}

// ---- C.1 integers ---------------------------------------------------------

#[test]
fn c1_integers() {
    for (value, prefix, wire) in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")] {
        let mut out = Vec::new();
        encode_integer(value, prefix, 0, &mut out);
        assert_eq!(out, hex(wire), "encode {value}");
        assert_eq!(decode_integer(&hex(wire), prefix), Ok((value, out.len())), "decode {value}");
    }
}

// ---- C.2 single representations ------------------------------------------

/// (wire, field, table after, representation used by the encoder)
fn c2_case(wire: &str, name: &str, value: &str, sensitive: bool, table_after: &[(&str, &str)], indexing: Indexing) {
    let mut dec = HpackDecoder::new(4096);
    assert_eq!(decode(&mut dec, &hex(wire)), vec![(name.to_string(), value.to_string(), sensitive)]);
    assert_eq!(table(&dec), entries(table_after));
    let size: usize = table_after.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    assert_eq!(dec.table_size(), size);

    let mut enc = HpackEncoder::new();
    enc.set_huffman(HuffmanPolicy::Never);
    let mut out = Vec::new();
    enc.begin_block(&mut out);
    enc.encode_field_with(name.as_bytes(), value.as_bytes(), indexing, &mut out);
    assert_eq!(out, hex(wire));
    assert_eq!(enc.table_size(), size);
}

#[test]
fn c2_1_literal_with_indexing() {
    c2_case(
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        "custom-key",
        "custom-header",
        false,
        &[("custom-key", "custom-header")],
        Indexing::Incremental,
    );
}

#[test]
fn c2_2_literal_without_indexing() {
    c2_case("040c 2f73 616d 706c 652f 7061 7468", ":path", "/sample/path", false, &[], Indexing::Without);
}

#[test]
fn c2_3_literal_never_indexed() {
    c2_case("1008 7061 7373 776f 7264 0673 6563 7265 74", "password", "secret", true, &[], Indexing::Never);
}

#[test]
fn c2_4_indexed() {
    c2_case("82", ":method", "GET", false, &[], Indexing::Incremental);
}

// ---- C.3 – C.6 sequences on one connection --------------------------------

struct Step<'a> {
    wire: &'a str,
    headers: &'a [(&'a str, &'a str)],
    table: &'a [(&'a str, &'a str)],
    size: usize,
}

fn run_sequence(table_size: usize, huffman: HuffmanPolicy, steps: &[Step<'_>]) {
    let mut dec = HpackDecoder::new(table_size);
    let mut enc = HpackEncoder::with_table_size(table_size);
    enc.set_huffman(huffman);
    for (i, step) in steps.iter().enumerate() {
        let wire = hex(step.wire);
        assert_eq!(decode(&mut dec, &wire), fields(step.headers), "decode step {i}");
        assert_eq!(table(&dec), entries(step.table), "decoder table after step {i}");
        assert_eq!(dec.table_size(), step.size, "decoder table size after step {i}");

        let mut out = Vec::new();
        enc.begin_block(&mut out);
        for &(n, v) in step.headers {
            if n == ":status" {
                enc.encode_status(v.parse().unwrap(), &mut out);
            } else {
                // Appendix C indexes every literal, including set-cookie,
                // which our default policy would send never-indexed.
                enc.encode_field_with(n.as_bytes(), v.as_bytes(), Indexing::Incremental, &mut out);
            }
        }
        assert_eq!(hex_string(&out), hex_string(&wire), "encode step {i}");
        assert_eq!(enc.table_size(), step.size, "encoder table size after step {i}");
        let enc_table: Vec<_> = enc
            .dynamic_table()
            .map(|(n, v)| (String::from_utf8(n.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        assert_eq!(enc_table, entries(step.table), "encoder table after step {i}");
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const REQ1: &[(&str, &str)] =
    &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[("cache-control", "no-cache"), (":authority", "www.example.com")];
const REQ_T3: &[(&str, &str)] =
    &[("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")];

#[test]
fn c3_requests_without_huffman() {
    run_sequence(
        4096,
        HuffmanPolicy::Never,
        &[
            Step { wire: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", headers: REQ1, table: REQ_T1, size: 57 },
            Step { wire: "8286 84be 5808 6e6f 2d63 6163 6865", headers: REQ2, table: REQ_T2, size: 110 },
            Step {
                wire: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                headers: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
    );
}

#[test]
fn c4_requests_with_huffman() {
    run_sequence(
        4096,
        HuffmanPolicy::Always,
        &[
            Step { wire: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", headers: REQ1, table: REQ_T1, size: 57 },
            Step { wire: "8286 84be 5886 a8eb 1064 9cbf", headers: REQ2, table: REQ_T2, size: 110 },
            Step {
                wire: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                headers: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
    );
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const RESP1: &[(&str, &str)] = &[(":status", "302"), ("cache-control", "private"), ("date", DATE1), ("location", LOC)];
const RESP2: &[(&str, &str)] = &[(":status", "307"), ("cache-control", "private"), ("date", DATE1), ("location", LOC)];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", DATE2),
    ("location", LOC),
    ("content-encoding", "gzip"),
    ("set-cookie", COOKIE),
];
const RESP_T1: &[(&str, &str)] =
    &[("location", LOC), ("date", DATE1), ("cache-control", "private"), (":status", "302")];
const RESP_T2: &[(&str, &str)] =
    &[(":status", "307"), ("location", LOC), ("date", DATE1), ("cache-control", "private")];
const RESP_T3: &[(&str, &str)] = &[("set-cookie", COOKIE), ("content-encoding", "gzip"), ("date", DATE2)];

#[test]
fn c5_responses_without_huffman() {
    run_sequence(
        256,
        HuffmanPolicy::Never,
        &[
            Step {
                wire: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                       6c65 2e63 6f6d",
                headers: RESP1,
                table: RESP_T1,
                size: 222,
            },
            Step { wire: "4803 3330 37c1 c0bf", headers: RESP2, table: RESP_T2, size: 222 },
            Step {
                wire: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                       3d31",
                headers: RESP3,
                table: RESP_T3,
                size: 215,
            },
        ],
    );
}

#[test]
fn c6_responses_with_huffman() {
    run_sequence(
        256,
        HuffmanPolicy::Always,
        &[
            Step {
                wire: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                headers: RESP1,
                table: RESP_T1,
                size: 222,
            },
            Step { wire: "4883 640e ffc1 c0bf", headers: RESP2, table: RESP_T2, size: 222 },
            Step {
                wire: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                       9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                headers: RESP3,
                table: RESP_T3,
                size: 215,
            },
        ],
    );
}

/// With the default policy (Huffman when shorter, sensitive fields never
/// indexed) the C.5 responses still round-trip, just not byte-identically.
#[test]
fn default_policy_round_trips_appendix_c_responses() {
    let mut dec = HpackDecoder::new(256);
    let mut enc = HpackEncoder::with_table_size(256);
    for resp in [RESP1, RESP2, RESP3] {
        let mut out = Vec::new();
        enc.encode(resp.iter().map(|&(n, v)| (n.as_bytes(), v.as_bytes())), &mut out);
        let got = decode(&mut dec, &out);
        let want: Fields = resp.iter().map(|&(n, v)| (n.to_string(), v.to_string(), n == "set-cookie")).collect();
        assert_eq!(got, want);
    }
}
