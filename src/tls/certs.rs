//! The server's certificate and key: loaded from PEM files, or a
//! self-signed development certificate made on first run.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, Error as RustlsError, InconsistentKeys};

use super::TlsSetupError;

/// The development certificate's file name in `--certs-dir`.
pub const DEV_CERT_FILE: &str = "dev-cert.pem";
/// The development key's file name in `--certs-dir` (mode 0600; ignored by
/// git through `.gitignore`'s `/certs/*key.pem`).
pub const DEV_KEY_FILE: &str = "dev-key.pem";
/// The names the development certificate is valid for.
pub const DEV_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// PEM files of a certificate chain or key are a few kilobytes; a larger
/// file is the wrong file (`--cert /dev/urandom`), and reading it whole
/// would only delay the error.
const MAX_PEM_FILE: u64 = 1 << 20;

/// Loads the PEM certificate chain at `cert` (the server's own certificate
/// first) and the PEM private key at `key` (PKCS#8, SEC1 or PKCS#1; the
/// first one in the file), makes a signing key with the ring provider and
/// checks that the key belongs to the first certificate.
///
/// Only the end-entity certificate is parsed (to compare public keys); the
/// rest of the chain is sent as given, so an incomplete chain shows up in
/// clients, not here.
pub fn load_cert_and_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsSetupError> {
    let chain = load_chain(cert)?;
    let key_der = load_key(key)?;
    let signing_key = ring::default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsSetupError::UnsupportedKey { path: key.to_path_buf(), reason: rustls_reason(&e) })?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Compares the key's SubjectPublicKeyInfo with the certificate's. A
    // mismatch would otherwise surface only in clients, as a failed
    // CertificateVerify signature check (RFC 8446 §4.4.3) on every
    // handshake.
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsSetupError::KeyDoesNotMatchCert { cert: cert.to_path_buf(), key: key.to_path_buf() })
        }
        // Every ring signing key reports its public key, so `Unknown`
        // cannot happen; refuse rather than start unchecked.
        Err(RustlsError::InconsistentKeys(_)) => Err(TlsSetupError::UnsupportedKey {
            path: key.to_path_buf(),
            reason: "its public key is unknown, so it cannot be checked against the certificate".into(),
        }),
        Err(e) => Err(TlsSetupError::CertMalformed {
            path: cert.to_path_buf(),
            reason: format!("the first certificate cannot be parsed: {}", rustls_reason(&e)),
        }),
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = read_small(path).map_err(|source| TlsSetupError::CertUnreadable { path: path.into(), source })?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::CertMalformed { path: path.into(), reason: pem_reason(&e) })?;
    if chain.is_empty() {
        let hint = if bytes.iter().all(u8::is_ascii_whitespace) {
            " (the file is empty)"
        } else if contains(&bytes, b"PRIVATE KEY-----") {
            " (it holds a private key: are --cert and --key swapped?)"
        } else if looks_like_der(&bytes) {
            " (it looks like DER: convert it with `openssl x509 -inform DER -in FILE -out FILE.pem`)"
        } else {
            ""
        };
        return Err(TlsSetupError::NoCertificates { path: path.into(), hint });
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let bytes = read_small(path).map_err(|source| TlsSetupError::KeyUnreadable { path: path.into(), source })?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let hint = if bytes.iter().all(u8::is_ascii_whitespace) {
                " (the file is empty)"
            } else if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
                || contains(&bytes, b"Proc-Type: 4,ENCRYPTED")
            {
                " (it is encrypted: decrypt it with `openssl pkey -in FILE -out FILE.plain`)"
            } else if contains(&bytes, b"-----BEGIN OPENSSH PRIVATE KEY-----") {
                " (it is an OpenSSH key, not a TLS key)"
            } else if contains(&bytes, b"-----BEGIN CERTIFICATE-----") {
                " (it holds a certificate: are --cert and --key swapped?)"
            } else if looks_like_der(&bytes) {
                " (it looks like DER: convert it with `openssl pkey -inform DER -in FILE -out FILE.pem`)"
            } else {
                ""
            };
            Err(TlsSetupError::NoPrivateKey { path: path.into(), hint })
        }
        Err(e) => Err(TlsSetupError::KeyMalformed { path: path.into(), reason: pem_reason(&e) }),
    }
}

fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "larger than 1 MiB, so not a PEM certificate or key"));
    }
    Ok(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// DER certificates and keys are an ASN.1 SEQUENCE: tag 0x30, and no PEM
/// armour anywhere.
fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30) && !contains(bytes, b"-----BEGIN")
}

fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a PEM section is not closed (missing {:?})", String::from_utf8_lossy(end_marker))
        }
        // The BEGIN line names a type, never secret material.
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed PEM line {:?}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(_) => "a PEM section holds invalid base64".into(),
        other => other.to_string(),
    }
}

fn rustls_reason(e: &RustlsError) -> String {
    match e {
        RustlsError::General(message) => message.clone(),
        // rustls words these for certificates a peer sent; this one is ours.
        RustlsError::InvalidCertificate(CertificateError::BadEncoding) => "it is not valid X.509 DER".into(),
        RustlsError::InvalidCertificate(reason) => format!("{reason:?}"),
        other => other.to_string(),
    }
}

/// Returns the development certificate and key in `dir`, creating them if
/// needed: a self-signed ECDSA P-256 certificate for [`DEV_SANS`].
///
/// Existing files are reused when they load as a matching pair (so a
/// client told to trust the certificate keeps trusting it across
/// restarts); otherwise both are replaced. `dir` is created if missing. The
/// key is written with mode 0600 and an existing key that others may read
/// is narrowed to 0600. Each file is written to a temporary name and
/// renamed, so a crash leaves the old file or the new one, never half of
/// one (a mismatched pair is regenerated on the next run).
pub fn ensure_dev_cert(dir: &Path) -> Result<(PathBuf, PathBuf), TlsSetupError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    if load_cert_and_key(&cert_path, &key_path).is_ok() {
        narrow_key_mode(&key_path)?;
        return Ok((cert_path, key_path));
    }

    fs::create_dir_all(dir).map_err(|source| TlsSetupError::DevCertDir { path: dir.into(), source })?;
    let (cert_pem, key_pem) =
        generate_dev_cert().map_err(|e| TlsSetupError::DevCertGenerate { reason: e.to_string() })?;
    write_replacing(dir, DEV_KEY_FILE, key_pem.as_bytes(), 0o600)?;
    write_replacing(dir, DEV_CERT_FILE, cert_pem.as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

fn generate_dev_cert() -> Result<(String, String), rcgen::Error> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    // `new` turns the IP literals into iPAddress SANs and the rest into
    // dNSName SANs, which is what clients match against (RFC 6125 §6.4,
    // §6.2.1) for https://localhost/ and https://127.0.0.1/.
    let mut params = rcgen::CertificateParams::new(DEV_SANS.map(String::from).to_vec())?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, "h2ring development certificate");
    params.distinguished_name = name;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key_pair)?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

fn narrow_key_mode(path: &Path) -> Result<(), TlsSetupError> {
    let write_error = |source| TlsSetupError::DevCertWrite { path: path.into(), source };
    let mode = fs::metadata(path).map_err(write_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(write_error)?;
    }
    Ok(())
}

/// Writes `dir/name` through a temporary file created with `mode` and
/// renamed into place.
fn write_replacing(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<(), TlsSetupError> {
    // The temporary name ends like the final one so `.gitignore`'s
    // `/certs/*key.pem` also covers a leftover temporary key.
    let tmp = dir.join(format!(".new-{name}"));
    let target = dir.join(name);
    let result = (|| {
        // A leftover from a crash is removed first: `create_new` must make
        // a fresh inode, since `mode` applies only to files it creates.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err((tmp.clone(), e)),
        }
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(|e| (tmp.clone(), e))?;
        file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| (tmp.clone(), e))?;
        fs::rename(&tmp, &target).map_err(|e| (target.clone(), e))
    })();
    result.map_err(|(path, source)| {
        let _ = fs::remove_file(&tmp);
        TlsSetupError::DevCertWrite { path, source }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_dir::TestDir;

    #[test]
    fn dev_cert_is_created_once_then_reused() {
        let dir = TestDir::new("dev-reuse");
        let certs = dir.path().join("nested/certs");
        let (cert, key) = ensure_dev_cert(&certs).unwrap();
        assert_eq!(cert, certs.join(DEV_CERT_FILE));
        assert_eq!(key, certs.join(DEV_KEY_FILE));
        let cert_bytes = fs::read(&cert).unwrap();
        let key_bytes = fs::read(&key).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        load_cert_and_key(&cert, &key).unwrap();

        let again = ensure_dev_cert(&certs).unwrap();
        assert_eq!(again, (cert.clone(), key.clone()));
        assert_eq!(fs::read(&cert).unwrap(), cert_bytes, "the certificate must be reused, not regenerated");
        assert_eq!(fs::read(&key).unwrap(), key_bytes);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&certs).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn dev_key_readable_by_others_is_narrowed_on_reuse() {
        let dir = TestDir::new("dev-narrow");
        let (_, key) = ensure_dev_cert(dir.path()).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        ensure_dev_cert(dir.path()).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn broken_dev_pair_is_regenerated() {
        let dir = TestDir::new("dev-broken");
        let (cert, key) = ensure_dev_cert(dir.path()).unwrap();
        let old = fs::read(&cert).unwrap();
        fs::write(&cert, "garbage").unwrap();
        ensure_dev_cert(dir.path()).unwrap();
        assert_ne!(fs::read(&cert).unwrap(), old);
        load_cert_and_key(&cert, &key).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn dev_cert_covers_localhost_and_loopback_ips() {
        let dir = TestDir::new("dev-sans");
        let (cert, _) = ensure_dev_cert(dir.path()).unwrap();
        let pem = fs::read(&cert).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        let parsed = rustls::server::ParsedCertificate::try_from(&der);
        assert!(parsed.is_ok());
        // dNSName "localhost", iPAddress 127.0.0.1 and ::1 in DER (RFC 5280
        // §4.2.1.6: [2] IA5String, [7] OCTET STRING).
        let der = der.as_ref();
        assert!(contains(der, b"\x82\x09localhost"));
        assert!(contains(der, b"\x87\x04\x7f\x00\x00\x01"));
        assert!(contains(der, b"\x87\x10\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"));
    }

    #[test]
    fn missing_cert_file() {
        let dir = TestDir::new("missing");
        let (_, key) = ensure_dev_cert(dir.path()).unwrap();
        let err = load_cert_and_key(&dir.path().join("nope.pem"), &key).unwrap_err();
        assert!(
            matches!(&err, TlsSetupError::CertUnreadable { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        let line = err.to_string();
        assert!(line.contains("nope.pem") && line.contains("--cert") && !line.contains('\n'), "{line}");
    }

    #[test]
    fn missing_key_file() {
        let dir = TestDir::new("missing-key");
        let (cert, _) = ensure_dev_cert(dir.path()).unwrap();
        let err = load_cert_and_key(&cert, &dir.path().join("nokey.pem")).unwrap_err();
        assert!(matches!(err, TlsSetupError::KeyUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("--key"));
    }

    #[test]
    fn cert_file_without_certificate() {
        let dir = TestDir::new("nocert");
        let (_, key) = ensure_dev_cert(dir.path()).unwrap();
        let text = dir.path().join("text.pem");
        fs::write(&text, "hello, this is not PEM\n").unwrap();
        let err = load_cert_and_key(&text, &key).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoCertificates { hint: "", .. }), "{err}");

        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "").unwrap();
        let err = load_cert_and_key(&empty, &key).unwrap_err();
        assert!(err.to_string().contains("the file is empty"), "{err}");
    }

    #[test]
    fn swapped_cert_and_key_are_named() {
        let dir = TestDir::new("swapped");
        let (cert, key) = ensure_dev_cert(dir.path()).unwrap();
        let err = load_cert_and_key(&key, &cert).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoCertificates { .. }));
        assert!(err.to_string().contains("swapped"), "{err}");
    }

    #[test]
    fn key_file_problems() {
        let dir = TestDir::new("keyprobs");
        let (cert, _) = ensure_dev_cert(dir.path()).unwrap();
        let key = dir.path().join("k.pem");

        fs::write(&key, fs::read(&cert).unwrap()).unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoPrivateKey { .. }), "{err}");
        assert!(err.to_string().contains("swapped"), "{err}");

        fs::write(&key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n").unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");

        fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsSetupError::KeyMalformed { .. }), "{err}");

        // Well-formed PEM around bytes that are no key.
        fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsSetupError::UnsupportedKey { .. }), "{err}");
    }

    #[test]
    fn corrupt_certificate_in_valid_pem() {
        let dir = TestDir::new("corrupt");
        let (_, key) = ensure_dev_cert(dir.path()).unwrap();
        let cert = dir.path().join("c.pem");
        fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsSetupError::CertMalformed { .. }), "{err}");
        assert!(
            err.to_string().ends_with("the first certificate cannot be parsed: it is not valid X.509 DER"),
            "{err}"
        );
        fs::write(&cert, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
        let err = load_cert_and_key(&cert, &key).unwrap_err();
        assert!(err.to_string().ends_with("invalid base64"), "{err}");
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = TestDir::new("big");
        let (cert, _) = ensure_dev_cert(dir.path()).unwrap();
        let err = load_cert_and_key(&cert, Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(err, TlsSetupError::KeyUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn key_of_another_certificate() {
        let a = TestDir::new("mismatch-a");
        let b = TestDir::new("mismatch-b");
        let (cert_a, _) = ensure_dev_cert(a.path()).unwrap();
        let (_, key_b) = ensure_dev_cert(b.path()).unwrap();
        let err = load_cert_and_key(&cert_a, &key_b).unwrap_err();
        assert!(matches!(&err, TlsSetupError::KeyDoesNotMatchCert { cert, key } if *cert == cert_a && *key == key_b));
        let line = err.to_string();
        assert!(line.contains("does not belong") && !line.contains('\n'), "{line}");
    }

    #[test]
    fn key_in_pkcs8_sec1_and_combined_files() {
        let dir = TestDir::new("formats");
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key_pair).unwrap();
        let cert_path = dir.path().join("c.pem");
        fs::write(&cert_path, cert.pem()).unwrap();

        // A combined file (certificate and key together) serves as both.
        let both = dir.path().join("both.pem");
        fs::write(&both, format!("{}{}", cert.pem(), key_pair.serialize_pem())).unwrap();
        load_cert_and_key(&both, &both).unwrap();

        // SEC1 ("EC PRIVATE KEY"): the PKCS#8 of an EC key wraps the SEC1
        // ECPrivateKey in an OCTET STRING; rcgen only writes PKCS#8, so
        // extract it by its known prefix (RFC 5915 §3: SEQUENCE, version 1).
        let pkcs8 = key_pair.serialize_der();
        let start = pkcs8.windows(3).position(|w| w == [0x02, 0x01, 0x01]).unwrap() - 2;
        let sec1 = &pkcs8[start..start + 2 + pkcs8[start + 1] as usize];
        let sec1_file = dir.path().join("sec1.pem");
        fs::write(&sec1_file, pem_encode("EC PRIVATE KEY", sec1)).unwrap();
        load_cert_and_key(&cert_path, &sec1_file).unwrap();
    }

    fn pem_encode(label: &str, der: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut b64 = String::new();
        for chunk in der.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    b64.push('=');
                }
            }
        }
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }
}
