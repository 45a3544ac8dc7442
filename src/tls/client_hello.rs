//! Did the client offer 0-RTT? A strict, allocation-free look at the raw
//! ClientHello, for the "0-RTT offered / accepted / rejected" counters.
//!
//! rustls reports early data only when it accepts it
//! (`ServerConnection::early_data()` is `Some`); when it rejects it (no
//! ticket, a used ticket, a stale one, early data turned off) the
//! connection looks the same as one whose client never offered any, and
//! `rustls::server::ClientHello` has no accessor for either extension. So
//! the session scans the bytes the client sent first:
//!
//! ```text
//! offered  = scan(first_flight) is Found { early_data: true, .. }
//! accepted = offered && conn.early_data().is_some()    (after the ClientHello is processed)
//! rejected = offered && !accepted
//! ```
//!
//! [`scan`] reads TLS records (RFC 8446 §5.1), reassembles the ClientHello
//! from as many of them as it spans (up to [`MAX_RECORDS`]) without copying,
//! and walks its extensions (§4.1.2, §4.2). It looks at the first handshake
//! message only and ignores whatever follows it (a
//! `change_cipher_spec`, early data records).
//!
//! Checked, each failure giving [`ClientHelloScan::NotClientHello`], as
//! rustls would refuse the same bytes (we only count; rustls sends the
//! alert):
//!
//! - records: content type handshake (22), a `legacy_record_version`
//!   of 0x03XX (the field "MUST be ignored", §5.1, but rustls refuses
//!   other major versions), a length of 1 to 2^14 (a TLSPlaintext, §5.1;
//!   zero-length handshake fragments are forbidden there too), and no
//!   other record type until the ClientHello is complete ("Handshake
//!   messages MUST NOT be interleaved with other record types", §5.1);
//! - the handshake message: type `client_hello` (1) and a body of at most
//!   2^16-1 bytes (rustls' own limit, which bounds the work here too);
//! - the body (§4.1.2): `legacy_session_id` of at most 32 bytes,
//!   `cipher_suites` of even length and at least one suite, at least one
//!   `legacy_compression_methods` byte, and the extensions block filling
//!   the rest exactly (or absent, as rustls allows);
//! - extensions (§4.2): each inside the block, no type twice,
//!   `early_data` (42) empty (§4.2.10), `pre_shared_key` (41) last in the
//!   block and well formed (§4.2.11: identities<7..2^16-1>, each
//!   non-empty; binders<33..2^16-1>, each 32 to 255 bytes; as many of
//!   each);
//! - alignment: the ClientHello ends exactly at the end of a record.
//!   Every next client flight is under new keys (early data or handshake
//!   keys), and handshake messages "MUST NOT span key changes" (§5.1);
//!   rustls checks this on the ClientHello too.
//!
//! # For the session code
//!
//! `first_flight` is every byte the connection has received, from its
//! first byte. The usual ClientHello arrives whole in the first receive,
//! so scanning that receive's buffer (before handing it to the
//! `Acceptor`, or alongside) costs no copy; only when the Acceptor needs
//! more must those bytes be kept. Scanning after every receive while
//! Incomplete is quadratic in the number of receives, so prefer to scan
//! once, when `accept_client_hello` stops returning `NeedMore`: the
//! ClientHello is then complete and the answer is `Found` or
//! `NotClientHello` (rustls has already refused the latter).

/// What [`scan`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientHelloScan {
    /// The bytes are a valid beginning of a ClientHello; more are needed.
    Incomplete,
    /// Not a well-formed TLS ClientHello (rustls refuses it too).
    NotClientHello,
    /// A complete, well-formed ClientHello, and whether it carries the
    /// `early_data` (RFC 8446 §4.2.10) and `pre_shared_key` (§4.2.11)
    /// extensions. 0-RTT is possible only with both.
    Found { early_data: bool, psk: bool },
}

/// The most TLS records a ClientHello may span here. Real clients send it
/// in one record (one more or two past 16 KiB, e.g. with large
/// post-quantum key shares); the 64 KiB maximum needs 5. Past this many,
/// [`scan`] says `NotClientHello`, so that a client splitting its hello
/// into tiny records cannot make each scan walk thousands of headers.
pub const MAX_RECORDS: usize = 128;

/// The largest ClientHello body: rustls refuses handshake messages over
/// 2^16-1 bytes (RFC 8446 §4 allows 2^24-1), and so do we.
pub const MAX_CLIENT_HELLO_LEN: usize = 0xffff;

/// RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes" for a
/// TLSPlaintext, which the ClientHello is (the 2^14 + 256 of §5.2 is for
/// protected records).
const MAX_PLAINTEXT_RECORD_LEN: usize = 1 << 14;
const RECORD_HEADER_LEN: usize = 5;
const CONTENT_TYPE_HANDSHAKE: u8 = 22;
const HANDSHAKE_TYPE_CLIENT_HELLO: u8 = 1;
const EXTENSION_PRE_SHARED_KEY: u16 = 41;
const EXTENSION_EARLY_DATA: u16 = 42;

/// Reads the ClientHello at the start of `first_flight` (the raw bytes the
/// client sent, TLS records from the first byte) and says whether it
/// offers early data and a PSK. Never panics, never allocates; the work is
/// linear in the ClientHello's size.
pub fn scan(first_flight: &[u8]) -> ClientHelloScan {
    match parse(first_flight) {
        Ok((early_data, psk)) => ClientHelloScan::Found { early_data, psk },
        Err(Stop::Incomplete) => ClientHelloScan::Incomplete,
        Err(Stop::Malformed) => ClientHelloScan::NotClientHello,
    }
}

/// Why parsing stopped: the input ended (more bytes may fix it), or the
/// bytes break a rule (no more bytes will).
#[derive(Debug)]
enum Stop {
    Incomplete,
    Malformed,
}

fn parse(input: &[u8]) -> Result<(bool, bool), Stop> {
    let mut records = Records { input, pos: 0, record_left: 0, records: 0 };
    // Handshake header (RFC 8446 §4): msg_type, uint24 length.
    if records.u8()? != HANDSHAKE_TYPE_CLIENT_HELLO {
        return Err(Stop::Malformed);
    }
    let len = usize::from(records.u8()?) << 16 | usize::from(records.u8()?) << 8 | usize::from(records.u8()?);
    if len > MAX_CLIENT_HELLO_LEN {
        return Err(Stop::Malformed);
    }
    let mut body = Bounded { records, left: len };

    // RFC 8446 §4.1.2.
    body.skip(2)?; // legacy_version: checked by rustls through supported_versions, not here.
    body.skip(32)?; // random
    let session_id = usize::from(body.u8()?);
    if session_id > 32 {
        return Err(Stop::Malformed);
    }
    body.skip(session_id)?;
    let cipher_suites = usize::from(body.u16()?);
    if cipher_suites < 2 || cipher_suites % 2 != 0 {
        return Err(Stop::Malformed);
    }
    body.skip(cipher_suites)?;
    let compression_methods = usize::from(body.u8()?);
    if compression_methods == 0 {
        return Err(Stop::Malformed);
    }
    body.skip(compression_methods)?;

    let (mut early_data, mut psk) = (false, false);
    // An absent extensions block is allowed by the syntax (and by rustls);
    // a TLS 1.3 ClientHello always has one (supported_versions, §4.2.1).
    if body.left > 0 {
        let extensions = usize::from(body.u16()?);
        if extensions != body.left {
            return Err(Stop::Malformed);
        }
        // One bit per extension type: "There MUST NOT be more than one
        // extension of the same type in a given extension block" (§4.2).
        // 8 KiB of stack, zeroed once per scan, instead of a set that
        // would allocate.
        let mut seen = [0u64; 1024];
        while body.left > 0 {
            let typ = body.u16()?;
            let len = usize::from(body.u16()?);
            if len > body.left {
                return Err(Stop::Malformed);
            }
            let word = seen.get_mut(usize::from(typ >> 6)).ok_or(Stop::Malformed)?;
            let bit = 1u64 << (typ & 63);
            if *word & bit != 0 {
                return Err(Stop::Malformed);
            }
            *word |= bit;
            match typ {
                // §4.2.10: in a ClientHello, `struct {} Empty`.
                EXTENSION_EARLY_DATA if len != 0 => return Err(Stop::Malformed),
                EXTENSION_EARLY_DATA => early_data = true,
                // §4.2.11: "The "pre_shared_key" extension MUST be the last
                // extension in the ClientHello".
                EXTENSION_PRE_SHARED_KEY if len != body.left => return Err(Stop::Malformed),
                EXTENSION_PRE_SHARED_KEY => {
                    body.within(len, offered_psks)?;
                    psk = true;
                }
                _ => body.skip(len)?,
            }
        }
    }
    if body.records.record_left != 0 {
        return Err(Stop::Malformed);
    }
    Ok((early_data, psk))
}

/// `OfferedPsks` (RFC 8446 §4.2.11), which must fill `body` exactly:
///
/// ```text
/// struct { opaque identity<1..2^16-1>; uint32 obfuscated_ticket_age; } PskIdentity;
/// opaque PskBinderEntry<32..255>;
/// struct { PskIdentity identities<7..2^16-1>; PskBinderEntry binders<33..2^16-1>; } OfferedPsks;
/// ```
///
/// Each identity needs its binder, so the counts must match (rustls
/// refuses a mismatch with `illegal_parameter`).
fn offered_psks(body: &mut Bounded<'_>) -> Result<(), Stop> {
    let identities_len = usize::from(body.u16()?);
    if identities_len < 7 {
        return Err(Stop::Malformed);
    }
    let identities = body.within(identities_len, |list| {
        let mut count = 0usize;
        while list.left > 0 {
            let identity = usize::from(list.u16()?);
            if identity == 0 {
                return Err(Stop::Malformed);
            }
            list.skip(identity + 4)?;
            count += 1;
        }
        Ok(count)
    })?;
    let binders_len = usize::from(body.u16()?);
    if binders_len < 33 {
        return Err(Stop::Malformed);
    }
    let binders = body.within(binders_len, |list| {
        let mut count = 0usize;
        while list.left > 0 {
            let binder = usize::from(list.u8()?);
            if binder < 32 {
                return Err(Stop::Malformed);
            }
            list.skip(binder)?;
            count += 1;
        }
        Ok(count)
    })?;
    if identities != binders {
        return Err(Stop::Malformed);
    }
    Ok(())
}

/// The handshake bytes of consecutive handshake records, read in order
/// across record boundaries (RFC 8446 §5.1: "a single message MAY be
/// fragmented across several records"), without copying them together.
struct Records<'a> {
    input: &'a [u8],
    /// The next unread byte of `input`: inside a record body while
    /// `record_left > 0`, else the start of the next record header.
    pos: usize,
    /// Body bytes of the current record not read yet.
    record_left: usize,
    /// Record headers read so far.
    records: usize,
}

impl Records<'_> {
    /// Steps over the next record header, checking it.
    ///
    /// Each header byte is judged as soon as it is there: one byte that
    /// is not 22 (an HTTP/1.1 request's `G`, an alert) is an answer
    /// already, not a wait for five.
    fn next_record(&mut self) -> Result<(), Stop> {
        let header = self.input.get(self.pos..).unwrap_or_default();
        if header.first().is_some_and(|&typ| typ != CONTENT_TYPE_HANDSHAKE) {
            return Err(Stop::Malformed);
        }
        if header.get(1).is_some_and(|&major| major != 3) {
            return Err(Stop::Malformed);
        }
        let Some(&[_, _, _, high, low]) = header.first_chunk::<RECORD_HEADER_LEN>() else {
            return Err(Stop::Incomplete);
        };
        let len = usize::from(u16::from_be_bytes([high, low]));
        if len == 0 || len > MAX_PLAINTEXT_RECORD_LEN {
            return Err(Stop::Malformed);
        }
        self.records += 1;
        if self.records > MAX_RECORDS {
            return Err(Stop::Malformed);
        }
        self.pos += RECORD_HEADER_LEN;
        self.record_left = len;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, Stop> {
        if self.record_left == 0 {
            self.next_record()?;
        }
        let byte = *self.input.get(self.pos).ok_or(Stop::Incomplete)?;
        self.pos += 1;
        self.record_left -= 1;
        Ok(byte)
    }

    /// Skips `n` handshake bytes, a record at a time.
    fn skip(&mut self, mut n: usize) -> Result<(), Stop> {
        while n > 0 {
            if self.record_left == 0 {
                self.next_record()?;
            }
            let available = self.input.len().saturating_sub(self.pos);
            let step = n.min(self.record_left).min(available);
            if step == 0 {
                return Err(Stop::Incomplete);
            }
            self.pos += step;
            self.record_left -= step;
            n -= step;
        }
        Ok(())
    }
}

/// [`Records`] limited to one length-prefixed structure: reading past
/// `left` is malformed (the structure's own length says so, whatever
/// bytes have arrived), reading past the input is incomplete.
struct Bounded<'a> {
    records: Records<'a>,
    left: usize,
}

impl Bounded<'_> {
    fn claim(&mut self, n: usize) -> Result<(), Stop> {
        self.left = self.left.checked_sub(n).ok_or(Stop::Malformed)?;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, Stop> {
        self.claim(1)?;
        self.records.u8()
    }

    fn u16(&mut self) -> Result<u16, Stop> {
        self.claim(2)?;
        let high = self.records.u8()?;
        let low = self.records.u8()?;
        Ok(u16::from_be_bytes([high, low]))
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        self.claim(n)?;
        self.records.skip(n)
    }

    /// Runs `f` on the next `n` bytes as a structure of their own, which
    /// must use them all (trailing bytes inside a length-prefixed
    /// structure are malformed).
    fn within<T>(&mut self, n: usize, f: impl FnOnce(&mut Self) -> Result<T, Stop>) -> Result<T, Stop> {
        self.claim(n)?;
        let outer = std::mem::replace(&mut self.left, n);
        let result = f(self);
        let unread = std::mem::replace(&mut self.left, outer);
        let value = result?;
        if unread != 0 {
            return Err(Stop::Malformed);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::client::ClientConnection;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::server::{Acceptor, ServerConnection};
    use rustls::{ClientConfig, HandshakeKind, RootCertStore, ServerConfig};

    use super::*;
    use crate::tls::session_store::ShardedSessionStore;

    const EARLY_REQUEST: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// A server like `tls::server_config` (ring, TLS 1.3 only, ALPN h2)
    /// with 0-RTT on and `store` as its session storage, and a client
    /// trusting its certificate with early data enabled and rustls'
    /// default in-memory ticket cache.
    fn configs(store: Arc<ShardedSessionStore>) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key_pair).unwrap();
        let cert_der: CertificateDer<'static> = cert.der().clone();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key_der)
            .unwrap();
        server.alpn_protocols = vec![b"h2".to_vec()];
        server.session_storage = store;
        server.max_early_data_size = 16 * 1024;

        let mut roots = RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec()];
        client.enable_early_data = true;
        (Arc::new(server), Arc::new(client))
    }

    fn client(config: &Arc<ClientConfig>) -> ClientConnection {
        ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap()
    }

    fn take_output(conn: &mut rustls::ConnectionCommon<impl rustls::SideData>) -> Vec<u8> {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out
    }

    fn feed(conn: &mut rustls::ConnectionCommon<impl rustls::SideData>, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            conn.read_tls(&mut bytes).unwrap();
            conn.process_new_packets().unwrap();
        }
    }

    /// Moves bytes both ways until neither side has anything to send (the
    /// client then also holds the server's NewSessionTickets).
    fn pump(client: &mut ClientConnection, server: &mut ServerConnection) {
        loop {
            let to_server = take_output(client);
            feed(server, &to_server);
            let to_client = take_output(server);
            feed(client, &to_client);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
        }
    }

    /// The first flights of a fresh client and of the same client resuming
    /// with early data, after checking on the way that the resumption and
    /// the 0-RTT data really worked against `ShardedSessionStore`, through
    /// the `Acceptor` path the session code uses, and that a replay of the
    /// second flight gets no early data (RFC 8446 §8.1).
    fn fresh_and_resuming_flights() -> (Vec<u8>, Vec<u8>) {
        let store = Arc::new(ShardedSessionStore::new(64));
        let (server_config, client_config) = configs(store.clone());

        let mut c1 = client(&client_config);
        let fresh = take_output(&mut c1);
        let mut s1 = ServerConnection::new(server_config.clone()).unwrap();
        feed(&mut s1, &fresh);
        pump(&mut c1, &mut s1);
        assert!(!c1.is_handshaking() && !s1.is_handshaking());
        assert_eq!(s1.handshake_kind(), Some(HandshakeKind::Full));
        // rustls' default send_tls13_tickets: two puts per handshake.
        assert_eq!(store.stats().entries, 2);

        let mut c2 = client(&client_config);
        c2.early_data().expect("the ticket allows early data").write_all(EARLY_REQUEST).unwrap();
        let resuming = take_output(&mut c2);

        let mut acceptor = Acceptor::default();
        let mut rest = &resuming[..];
        let accepted = loop {
            acceptor.read_tls(&mut rest).unwrap();
            if let Some(accepted) = acceptor.accept().unwrap() {
                break accepted;
            }
        };
        let mut s2 = accepted.into_connection(server_config.clone()).unwrap();
        feed(&mut s2, rest);
        s2.process_new_packets().unwrap();
        let mut early = Vec::new();
        s2.early_data().expect("0-RTT accepted").read_to_end(&mut early).unwrap();
        assert_eq!(early, EARLY_REQUEST);
        pump(&mut c2, &mut s2);
        assert_eq!(s2.handshake_kind(), Some(HandshakeKind::Resumed));
        assert!(c2.is_early_data_accepted());
        // One taken, two new ones put.
        assert_eq!(store.stats().entries, 3);
        assert_eq!(store.stats().operations, 5);

        let mut replay = ServerConnection::new(server_config).unwrap();
        feed(&mut replay, &resuming);
        assert!(replay.early_data().is_none(), "a replayed ticket is gone");
        assert_eq!(store.stats().operations, 6, "the replay's take found nothing");

        (fresh, resuming)
    }

    /// The handshake bytes of `flight`'s first record (the whole
    /// ClientHello, as rustls sends it in one record), and the bytes after
    /// that record.
    fn split_first_record(flight: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(flight[0], CONTENT_TYPE_HANDSHAKE);
        let len = usize::from(u16::from_be_bytes([flight[3], flight[4]]));
        (&flight[5..5 + len], &flight[5 + len..])
    }

    /// `handshake` in records of at most `chunk` bytes.
    fn records(handshake: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in handshake.chunks(chunk) {
            out.extend_from_slice(&[CONTENT_TYPE_HANDSHAKE, 3, 3]);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        out
    }

    #[test]
    fn fresh_client_offers_neither() {
        let (fresh, _) = fresh_and_resuming_flights();
        assert_eq!(scan(&fresh), ClientHelloScan::Found { early_data: false, psk: false });
    }

    #[test]
    fn resuming_client_with_early_data_offers_both() {
        let (_, resuming) = fresh_and_resuming_flights();
        // The flight goes on after the ClientHello (change_cipher_spec and
        // the 0-RTT record); only the ClientHello is read.
        let (hello, after) = split_first_record(&resuming);
        assert!(!after.is_empty());
        assert_eq!(scan(&resuming), ClientHelloScan::Found { early_data: true, psk: true });
        assert_eq!(scan(&resuming[..5 + hello.len()]), ClientHelloScan::Found { early_data: true, psk: true });
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let (fresh, resuming) = fresh_and_resuming_flights();
        for flight in [&fresh, &resuming] {
            let (hello, _) = split_first_record(flight);
            let end = 5 + hello.len();
            for n in 0..end {
                assert_eq!(scan(&flight[..n]), ClientHelloScan::Incomplete, "truncated to {n} of {end}");
            }
            for n in end..=flight.len() {
                assert!(matches!(scan(&flight[..n]), ClientHelloScan::Found { .. }), "{n}");
            }
        }
    }

    #[test]
    fn fragmented_over_many_records_gives_the_same_answer() {
        let (_, resuming) = fresh_and_resuming_flights();
        let (hello, after) = split_first_record(&resuming);
        let found = ClientHelloScan::Found { early_data: true, psk: true };
        let smallest = hello.len().div_ceil(MAX_RECORDS);
        for chunk in [smallest, smallest + 1, 7, 16, 33, 100, 255, 1000, hello.len() - 1] {
            let mut flight = records(hello, chunk);
            let end = flight.len();
            assert_eq!(scan(&flight), found, "records of {chunk}");
            for n in 0..end {
                assert_eq!(scan(&flight[..n]), ClientHelloScan::Incomplete, "records of {chunk}, {n} of {end}");
            }
            flight.extend_from_slice(after);
            assert_eq!(scan(&flight), found, "records of {chunk}, then the rest of the flight");
        }
        // One record more than the bound.
        let chunk = (hello.len() / (MAX_RECORDS + 1)).max(1);
        assert!(hello.len().div_ceil(chunk) > MAX_RECORDS);
        let too_many = records(hello, chunk);
        assert_eq!(scan(&too_many), ClientHelloScan::NotClientHello);
    }

    #[test]
    fn hello_must_end_its_record() {
        let (fresh, _) = fresh_and_resuming_flights();
        let (hello, _) = split_first_record(&fresh);
        // The same handshake bytes plus one more in the same record.
        let mut longer = hello.to_vec();
        longer.push(0);
        assert_eq!(scan(&records(&longer, 1 << 14)), ClientHelloScan::NotClientHello);
        // ... even before that extra byte has arrived.
        let flight = records(&longer, 1 << 14);
        assert_eq!(scan(&flight[..flight.len() - 1]), ClientHelloScan::NotClientHello);
    }

    #[test]
    fn other_records_and_garbage_are_not_client_hellos() {
        let not = ClientHelloScan::NotClientHello;
        assert_eq!(scan(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), not);
        assert_eq!(scan(b"G"), not);
        assert_eq!(scan(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), not);
        // TLS 1.2-looking application data, alert and change_cipher_spec
        // records.
        assert_eq!(scan(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]), not);
        assert_eq!(scan(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), not);
        assert_eq!(scan(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]), not);
        // SSL 2.0-style header, wrong major version.
        assert_eq!(scan(&[0x80, 0x2e, 0x01, 0x03, 0x01]), not);
        assert_eq!(scan(&[0x16, 0x02]), not);
        // Empty and oversized records.
        assert_eq!(scan(&[0x16, 0x03, 0x01, 0x00, 0x00]), not);
        assert_eq!(scan(&[0x16, 0x03, 0x01, 0x40, 0x01, 0x01]), not);
        // A ServerHello (type 2) in a handshake record.
        assert_eq!(scan(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x46]), not);
        // A ClientHello claiming more than 2^16-1 bytes.
        assert_eq!(scan(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]), not);
        // Nothing yet, or a valid start.
        assert_eq!(scan(&[]), ClientHelloScan::Incomplete);
        assert_eq!(scan(&[0x16, 0x03, 0x01]), ClientHelloScan::Incomplete);
    }

    #[test]
    fn interleaved_record_types_are_refused() {
        let (fresh, _) = fresh_and_resuming_flights();
        let (hello, _) = split_first_record(&fresh);
        let mut flight = records(&hello[..40], 40);
        flight.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
        flight.extend_from_slice(&records(&hello[40..], 1 << 14));
        assert_eq!(scan(&flight), ClientHelloScan::NotClientHello);
    }

    /// A ClientHello made by hand around the given extensions.
    fn hello_with(extensions: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x5a; 32]);
        body.push(32);
        body.extend_from_slice(&[0xa5; 32]);
        body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
        let mut block = Vec::new();
        for (typ, data) in extensions {
            block.extend_from_slice(&typ.to_be_bytes());
            block.extend_from_slice(&(data.len() as u16).to_be_bytes());
            block.extend_from_slice(data);
        }
        body.extend_from_slice(&(block.len() as u16).to_be_bytes());
        body.extend_from_slice(&block);
        let mut handshake = vec![HANDSHAKE_TYPE_CLIENT_HELLO];
        handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        handshake.extend_from_slice(&body);
        records(&handshake, 1 << 14)
    }

    /// An `OfferedPsks` with `ids` identities of `id_len` bytes and
    /// `binders` binders of `binder_len` bytes.
    fn psk(ids: usize, id_len: usize, binders: usize, binder_len: usize) -> Vec<u8> {
        let mut identities = Vec::new();
        for _ in 0..ids {
            identities.extend_from_slice(&(id_len as u16).to_be_bytes());
            identities.extend(std::iter::repeat_n(7, id_len + 4));
        }
        let mut binder_list = Vec::new();
        for _ in 0..binders {
            binder_list.push(binder_len as u8);
            binder_list.extend(std::iter::repeat_n(9, binder_len));
        }
        let mut out = (identities.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&identities);
        out.extend_from_slice(&(binder_list.len() as u16).to_be_bytes());
        out.extend_from_slice(&binder_list);
        out
    }

    #[test]
    fn extension_rules() {
        let versions: (u16, &[u8]) = (43, &[0x02, 0x03, 0x04]);
        let good_psk = psk(1, 32, 1, 32);
        let found = |early_data, psk| ClientHelloScan::Found { early_data, psk };
        let not = ClientHelloScan::NotClientHello;

        assert_eq!(scan(&hello_with(&[versions])), found(false, false));
        assert_eq!(scan(&hello_with(&[versions, (42, &[]), (41, &good_psk)])), found(true, true));
        assert_eq!(scan(&hello_with(&[(42, &[]), versions])), found(true, false));
        assert_eq!(scan(&hello_with(&[versions, (41, &psk(2, 100, 2, 48))])), found(false, true));
        assert_eq!(scan(&hello_with(&[])), found(false, false));

        // pre_shared_key not last (§4.2.11).
        assert_eq!(scan(&hello_with(&[(41, &good_psk), versions])), not);
        // Duplicates (§4.2), of ours and of others.
        assert_eq!(scan(&hello_with(&[(42, &[]), (42, &[])])), not);
        assert_eq!(scan(&hello_with(&[versions, versions])), not);
        assert_eq!(scan(&hello_with(&[(0xffff, &[]), (0xffff, &[1])])), not);
        // early_data with a body (§4.2.10).
        assert_eq!(scan(&hello_with(&[(42, &[0])])), not);
        // Broken OfferedPsks.
        assert_eq!(scan(&hello_with(&[(41, &psk(1, 32, 2, 32))])), not);
        assert_eq!(scan(&hello_with(&[(41, &psk(1, 0, 1, 32))])), not);
        assert_eq!(scan(&hello_with(&[(41, &psk(1, 32, 1, 31))])), not);
        assert_eq!(scan(&hello_with(&[(41, &psk(0, 0, 0, 0))])), not);
        assert_eq!(scan(&hello_with(&[(41, &[])])), not);
        let mut trailing = good_psk.clone();
        trailing.push(0);
        assert_eq!(scan(&hello_with(&[(41, &trailing)])), not);
    }

    #[test]
    fn structure_rules() {
        let base = hello_with(&[(43, &[0x02, 0x03, 0x04])]);
        assert!(matches!(scan(&base), ClientHelloScan::Found { .. }));
        // Offsets in `base`: record header 5, handshake header 4,
        // legacy_version 2, random 32, then the session id length at 43.
        let session_id_len = 43;
        let cipher_suites_len = session_id_len + 1 + 32;
        let compression_len = cipher_suites_len + 2 + 2;
        let extensions_len = compression_len + 2;
        let corrupt = |at: usize, byte: u8| {
            let mut bytes = base.clone();
            bytes[at] = byte;
            scan(&bytes)
        };
        let not = ClientHelloScan::NotClientHello;
        assert_eq!(corrupt(session_id_len, 33), not);
        assert_eq!(corrupt(cipher_suites_len + 1, 3), not, "odd");
        assert_eq!(corrupt(cipher_suites_len + 1, 0), not, "empty");
        assert_eq!(corrupt(compression_len, 0), not);
        assert_eq!(corrupt(extensions_len + 1, 6), not, "block shorter than the rest");
        assert_eq!(corrupt(extensions_len + 1, 8), not, "block longer than the message");
        assert_eq!(corrupt(extensions_len + 5, 4), not, "extension past its block");
        assert_eq!(corrupt(5, 2), not, "not a ClientHello");
    }

    /// Tiny xorshift, so the byte mutations differ by position without a
    /// rand dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn mutations_and_garbage_never_panic() {
        let (fresh, resuming) = fresh_and_resuming_flights();
        let mut state = 0x1234_5678_9abc_def0;
        for flight in [&fresh, &resuming, &records(split_first_record(&resuming).0, 9)] {
            for at in 0..flight.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bytes = flight.clone();
                    bytes[at] ^= flip;
                    let _ = scan(&bytes);
                    let cut = (xorshift(&mut state) as usize) % bytes.len();
                    let _ = scan(&bytes[..cut]);
                }
            }
        }
        for _ in 0..2000 {
            let len = (xorshift(&mut state) % 600) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
            let _ = scan(&bytes);
            // And with a plausible record header in front.
            if bytes.len() >= 6 {
                bytes[..6].copy_from_slice(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
                let _ = scan(&bytes);
            }
        }
    }
}
