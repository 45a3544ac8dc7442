//! The codec-level checks of the `frame_decode` and `hpack_decode` targets (also run by `tests/randomized.rs`).
#![allow(dead_code)]

use h2ring::h2::error::ErrorScope;
use h2ring::h2::frame::{FRAME_HEADER_LEN, Frame, FrameHeader, FrameType, MAX_WINDOW_SIZE, SettingId};
use h2ring::h2::hpack::{DecodeLimits, HpackDecoder, HpackEncoder};

macro_rules! violation {
    ($($arg:tt)*) => { panic!("h2ring invariant violated: {}", format!($($arg)*)) };
}

const MAX_FRAME_SIZES: [u32; 4] = [16_384, 16_777_215, 100, 1 << 20];

/// `data[0]` picks the SETTINGS_MAX_FRAME_SIZE; the rest is read frame after frame: `FrameHeader::parse`,
/// `check_size`, `Frame::decode`. Every frame that decodes must re-encode (`Frame::encode`) into bytes that decode
/// to the same frame, and obey the rules the decoder promises (stream 0 or not, ranges, padding stripped).
pub fn frame_decode(data: &[u8]) -> usize {
    let Some((&first, mut rest)) = data.split_first() else { return 0 };
    let max = MAX_FRAME_SIZES[usize::from(first % 4)];
    let mut decoded = 0;
    while let Some((raw, after)) = rest.split_first_chunk::<FRAME_HEADER_LEN>() {
        let header = FrameHeader::parse(raw);
        let mut again = *raw;
        again[5] &= 0x7f;
        if header.encode() != again {
            violation!("header {raw:?} re-encodes as {:?}", header.encode());
        }
        match header.check_size(max) {
            Ok(()) if header.length > max => violation!("check_size({max}) accepted {}", header.length),
            Err(e) if header.length <= max || e.scope != ErrorScope::Connection => {
                violation!("check_size({max}) refused {}: {e:?}", header.length)
            }
            _ => {}
        }
        let len = header.length as usize;
        // A length past the input: decode what is there under a header that says so (the codec must take any
        // consistent pair), then stop.
        let (payload, next, header) = if after.len() >= len {
            (&after[..len], &after[len..], header)
        } else {
            (after, &[][..], FrameHeader { length: after.len() as u32, ..header })
        };
        match Frame::decode(&header, payload) {
            Ok(frame) => {
                decoded += 1;
                check_frame(&header, payload, &frame);
            }
            Err(e) => {
                if let ErrorScope::Stream(id) = e.scope
                    && (id != header.stream_id || id == 0)
                {
                    violation!("stream error on stream {id} for a frame on {}: {e:?}", header.stream_id);
                }
            }
        }
        rest = next;
    }
    decoded
}

fn check_frame(header: &FrameHeader, payload: &[u8], frame: &Frame<'_>) {
    let within = |s: &[u8]| {
        let (p, q) = (payload.as_ptr() as usize, s.as_ptr() as usize);
        s.is_empty() || (q >= p && q + s.len() <= p + payload.len())
    };
    let on_zero = matches!(frame, Frame::Settings { .. } | Frame::Ping { .. } | Frame::GoAway { .. });
    if (on_zero && header.stream_id != 0) || (!on_zero && frame.stream_id() != header.stream_id) {
        violation!("{frame:?} decoded from stream {}", header.stream_id);
    }
    match *frame {
        Frame::Data { data, flow_len, .. }
            if flow_len as usize != payload.len() || !within(data) || data.len() > payload.len() =>
        {
            violation!("DATA: flow_len {flow_len}, {} data octets, payload {}", data.len(), payload.len());
        }
        Frame::Headers { fragment, stream_id, .. }
        | Frame::Continuation { fragment, stream_id, .. }
        | Frame::PushPromise { fragment, stream_id, .. }
            if !within(fragment) || stream_id == 0 =>
        {
            violation!("{frame:?}: fragment outside the payload or stream 0");
        }
        Frame::Settings { ack, params } => {
            if ack && !params.as_bytes().is_empty() {
                violation!("SETTINGS ACK with parameters");
            }
            for (id, v) in params.iter() {
                let ok = match id {
                    SettingId::EnablePush | SettingId::EnableConnectProtocol => v <= 1,
                    SettingId::InitialWindowSize => v <= MAX_WINDOW_SIZE,
                    SettingId::MaxFrameSize => (16_384..=16_777_215).contains(&v),
                    _ => true,
                };
                if !ok {
                    violation!("SETTINGS accepted {id:?} = {v}");
                }
            }
        }
        Frame::WindowUpdate { increment, .. } if increment == 0 || increment > MAX_WINDOW_SIZE => {
            violation!("WINDOW_UPDATE increment {increment}")
        }
        Frame::Priority { stream_id, spec } if spec.dependency == stream_id => {
            violation!("PRIORITY depending on itself decoded")
        }
        Frame::Unknown { kind, .. } if FrameType::from_u8(kind) != FrameType::Unknown(kind) => {
            violation!("known type {kind} decoded as Unknown")
        }
        _ => {}
    }
    // Round trip: encode, parse, decode, compare.
    let mut wire = Vec::new();
    frame.encode(&mut wire);
    let Some((raw, body)) = wire.split_first_chunk::<FRAME_HEADER_LEN>() else { violation!("encode wrote no header") };
    let h2 = FrameHeader::parse(raw);
    if h2.length as usize != body.len() || h2.kind != header.kind {
        violation!("{frame:?} re-encodes with header {h2:?} and {} payload octets", body.len());
    }
    let back = match Frame::decode(&h2, body) {
        Ok(f) => f,
        Err(e) => violation!("{frame:?} re-encoded does not decode: {e:?}"),
    };
    let same = match (frame, &back) {
        (
            Frame::Data { stream_id: a, end_stream: b, data: c, .. },
            Frame::Data { stream_id: x, end_stream: y, data: z, .. },
        ) => a == x && b == y && c == z,
        _ => *frame == back,
    };
    if !same {
        violation!("{frame:?} round-trips as {back:?}");
    }
}

const TABLE_SIZES: [usize; 8] = [0, 1, 32, 64, 256, 4096, 65_536, 100];
const LIST_LIMITS: [usize; 5] = [usize::MAX, 0, 100, 1000, 16_384];
const COUNT_LIMITS: [usize; 5] = [usize::MAX, 0, 1, 5, 100];

/// `data[0..2]` choose the table size and the limits; then, repeatedly, one control octet: `0xc0..=0xff` changes
/// SETTINGS_HEADER_TABLE_SIZE (acknowledged) to one of a few sizes, anything else is the length of the next block
/// (`0xbf`: a two-octet length follows). Blocks share one decoder, as on a connection.
///
/// Checked: limits hold while decoding, a limit error leaves the decoder usable, the table never exceeds its
/// capacity or the setting; and every decoded list, re-encoded by `HpackEncoder` (with the same table size
/// changes), decodes to the same list in a second decoder.
pub fn hpack_decode(data: &[u8]) -> usize {
    let [a, b, rest @ ..] = data else { return 0 };
    let mut rest: &[u8] = rest;
    let mut max_table = TABLE_SIZES[usize::from(a % 8)];
    let limits = DecodeLimits {
        max_list_size: LIST_LIMITS[usize::from(a / 8 % 5)],
        max_header_count: COUNT_LIMITS[usize::from(b % 5)],
    };
    let mut dec = HpackDecoder::new(max_table);
    // The round-trip pair: our encoder talking to a fresh decoder that advertised 4096 (the protocol default).
    let mut enc = HpackEncoder::new();
    let mut dec2 = HpackDecoder::new(4096);
    let mut broken = false;
    let mut ok_blocks = 0;
    while let Some((&ctl, after)) = rest.split_first() {
        rest = after;
        if ctl >= 0xc0 {
            max_table = TABLE_SIZES[usize::from(ctl & 7)];
            dec.set_max_table_size(max_table);
            let theirs = TABLE_SIZES[usize::from((ctl >> 3) & 7)];
            enc.set_max_table_size(theirs);
            dec2.set_max_table_size(theirs);
            continue;
        }
        let len = if ctl == 0xbf {
            let Some((l, after)) = rest.split_first_chunk::<2>() else { break };
            rest = after;
            usize::from(u16::from_le_bytes(*l))
        } else {
            usize::from(ctl)
        };
        let block = &rest[..len.min(rest.len())];
        rest = &rest[block.len()..];
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut list = 0usize;
        let result = dec.decode(block, limits, |f| {
            list = list.saturating_add(f.name.len() + f.value.len() + 32);
            fields.push((f.name.to_vec(), f.value.to_vec()));
        });
        if fields.len() > limits.max_header_count || list > limits.max_list_size {
            violation!("{} fields, list size {list} delivered past the limits {limits:?}", fields.len());
        }
        let size: usize = dec.dynamic_table().map(|(n, v)| n.len() + v.len() + 32).sum();
        if size != dec.table_size() || dec.table_size() > dec.table_capacity() || dec.table_capacity() > max_table {
            violation!(
                "table: entries {size}, size {}, capacity {}, setting {max_table}",
                dec.table_size(),
                dec.table_capacity()
            );
        }
        match result {
            Ok(()) => ok_blocks += 1,
            Err(e) if e.is_limit() => {}
            Err(_) => broken = true,
        }
        if broken || result.is_err() {
            continue;
        }
        let mut wire = Vec::new();
        enc.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut wire);
        let mut back = Vec::new();
        if let Err(e) = dec2.decode(&wire, DecodeLimits::UNLIMITED, |f| back.push((f.name.to_vec(), f.value.to_vec())))
        {
            violation!("HpackEncoder's block for {} fields does not decode: {e:?}", fields.len());
        }
        if back != fields {
            violation!("HpackEncoder round trip changed the fields: {fields:?} -> {back:?}");
        }
    }
    ok_blocks
}
