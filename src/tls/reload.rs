//! The server's certificate while it runs: one current pair that every
//! handshake reads, replaced on SIGHUP from the same files it was loaded
//! from.
//!
//! A reload loads and checks the new pair completely
//! ([`load_cert_and_key`]: PEM, supported key, key matching the first
//! certificate) before it swaps it in, so a bad pair is refused and the old
//! one keeps serving. Handshakes that start after the swap get the new
//! pair; established connections are not touched (their certificate was
//! sent once, in their handshake), and session tickets stay valid (a
//! resumed TLS 1.3 handshake sends no certificate, RFC 8446 §2.2).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::TlsSetupError;
use super::cert_info::CertInfo;
use super::certs::load_cert_and_key;

/// Hands rustls the server's current certificate for every handshake; one
/// certificate for every server name.
///
/// The pair sits behind an `RwLock`: it is read once per full handshake
/// (never per request), where an uncontended read lock and an `Arc` clone
/// are two atomic operations next to a signature and a key exchange, and
/// written only on SIGHUP. A writer holds the lock for one pointer store,
/// so a handshake never waits on file reading or parsing, which happen
/// before the lock is taken.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    pub fn new(key: Arc<CertifiedKey>) -> CertResolver {
        CertResolver { current: RwLock::new(key) }
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        // Poisoning cannot leave a half-written `Arc` (the only write is
        // one assignment), so a poisoned lock still holds a usable pair.
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `key` the pair new handshakes get.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(PoisonError::into_inner), key);
        // The old pair is freed (if no handshake holds it) after the lock
        // is released.
        drop(old);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The certificate and key files of a running server and the resolver its
/// handshakes use: [`CertReloader::reload`] re-reads the files into it.
#[derive(Debug)]
pub struct CertReloader {
    resolver: Arc<CertResolver>,
    cert: PathBuf,
    key: PathBuf,
}

/// What a successful [`CertReloader::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReloaded {
    /// The certificate chain is the one already served (e.g. a SIGHUP
    /// for the content only), so nothing was swapped.
    pub unchanged: bool,
    /// The end-entity certificate now served.
    pub info: CertInfo,
}

impl CertReloader {
    /// Loads the pair from `cert` and `key`, checked as
    /// [`load_cert_and_key`] does, and remembers the paths for reloads.
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<CertReloader, TlsSetupError> {
        let pair = load_cert_and_key(&cert, &key)?;
        Ok(CertReloader { resolver: Arc::new(CertResolver::new(pair)), cert, key })
    }

    /// The resolver for [`server_config`](super::server_config).
    pub fn resolver(&self) -> Arc<CertResolver> {
        Arc::clone(&self.resolver)
    }

    /// The certificate file reloads read.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Reads the files again and, if they hold a valid pair, makes it the
    /// one new handshakes get. On an error the current pair stays.
    ///
    /// An expired or not-yet-valid certificate is swapped in all the same
    /// (the caller warns, see [`CertInfo::validity_problem`]): the operator
    /// asked for it, and the previous one may be no better.
    pub fn reload(&self) -> Result<CertReloaded, TlsSetupError> {
        let pair = load_cert_and_key(&self.cert, &self.key)?;
        // `load_cert_and_key` checked that the chain has a first
        // certificate; the fallback only keeps this free of panics.
        let info = CertInfo::from_der(pair.cert.first().map_or(&[][..], |c| c.as_ref()));
        let unchanged = self.resolver.current().cert == pair.cert;
        if !unchanged {
            self.resolver.replace(pair);
        }
        Ok(CertReloaded { unchanged, info })
    }
}

impl CertReloaded {
    /// The log line for an operator confirming a rotation, e.g.
    /// `certificate reloaded from "/etc/h2ring/fullchain.pem": CN "example.org", SHA-256 AB:…, valid until …`.
    /// Whether the certificate is valid now is [`CertInfo::validity_problem`].
    pub fn describe(&self, cert_path: &Path) -> String {
        let what = if self.unchanged { "unchanged in" } else { "reloaded from" };
        format!("certificate {what} {cert_path:?}: {}", self.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_dir::TestDir;
    use std::fs;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// A self-signed certificate for localhost and its key, as PEM.
    fn pair(not_after_year: i32) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    struct Files {
        dir: TestDir,
    }

    impl Files {
        fn new(label: &str, (cert, key): &(String, String)) -> Files {
            let files = Files { dir: TestDir::new(label) };
            files.write(cert, key);
            files
        }
        fn cert(&self) -> PathBuf {
            self.dir.path().join("cert.pem")
        }
        fn key(&self) -> PathBuf {
            self.dir.path().join("key.pem")
        }
        fn write(&self, cert: &str, key: &str) {
            fs::write(self.cert(), cert).unwrap();
            fs::write(self.key(), key).unwrap();
        }
        fn reloader(&self) -> CertReloader {
            CertReloader::load(self.cert(), self.key()).unwrap()
        }
    }

    fn served(reloader: &CertReloader) -> Vec<u8> {
        reloader.resolver().current().cert[0].to_vec()
    }

    fn der_of(pem: &str) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
    }

    fn now() -> SystemTime {
        // Within every test certificate's validity period.
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn reload_swaps_in_a_new_pair() {
        let (a, b) = (pair(2040), pair(2041));
        let files = Files::new("reload-swap", &a);
        let reloader = files.reloader();
        let resolver = reloader.resolver();
        assert_eq!(served(&reloader), der_of(&a.0));

        files.write(&b.0, &b.1);
        let reloaded = reloader.reload().unwrap();
        assert!(!reloaded.unchanged);
        assert_eq!(served(&reloader), der_of(&b.0));
        // The resolver handed out before the reload sees the new pair too:
        // it is the one inside the shared ServerConfig.
        assert_eq!(resolver.current().cert[0].to_vec(), der_of(&b.0));
        assert_eq!(reloaded.info, CertInfo::from_der(&der_of(&b.0)));
        assert_eq!(reloaded.info.validity_problem(now()), None);
        let line = reloaded.describe(&files.cert());
        assert!(line.starts_with("certificate reloaded from ") && line.contains("cert.pem"), "{line}");
        assert!(line.contains(&reloaded.info.fingerprint()) && line.ends_with("valid until 2041-01-01 00:00:00 UTC"));

        // The same files again: nothing to swap, and the line says so.
        let before = resolver.current();
        let again = reloader.reload().unwrap();
        assert!(again.unchanged);
        assert!(Arc::ptr_eq(&before, &resolver.current()));
        assert!(again.describe(&files.cert()).starts_with("certificate unchanged in "));
    }

    #[test]
    fn expired_certificate_is_served_all_the_same() {
        let files = Files::new("reload-expired", &pair(2040));
        let reloader = files.reloader();
        let old = pair(2021);
        files.write(&old.0, &old.1);
        let reloaded = reloader.reload().unwrap();
        assert_eq!(served(&reloader), der_of(&old.0));
        let problem = reloaded.info.validity_problem(now());
        assert_eq!(problem.as_deref(), Some("it expired on 2021-01-01 00:00:00 UTC"));
    }

    /// Every refused reload leaves the served pair as it was.
    fn assert_refused(files: &Files, reloader: &CertReloader, cert: &str, key: &str) -> TlsSetupError {
        let before = reloader.resolver().current();
        files.write(cert, key);
        let err = reloader.reload().unwrap_err();
        assert!(Arc::ptr_eq(&before, &reloader.resolver().current()), "{err}");
        err
    }

    #[test]
    fn mismatched_key_is_refused() {
        let (a, c, d) = (pair(2040), pair(2040), pair(2040));
        let files = Files::new("reload-mismatch", &a);
        let reloader = files.reloader();
        let err = assert_refused(&files, &reloader, &c.0, &d.1);
        assert!(
            matches!(&err, TlsSetupError::KeyDoesNotMatchCert { cert, key } if *cert == files.cert() && *key == files.key())
        );
        assert_eq!(served(&reloader), der_of(&a.0));
    }

    #[test]
    fn garbage_and_empty_files_are_refused() {
        let a = pair(2040);
        let files = Files::new("reload-garbage", &a);
        let reloader = files.reloader();

        let err = assert_refused(&files, &reloader, "not a certificate\n", &a.1);
        assert!(matches!(err, TlsSetupError::NoCertificates { hint: "", .. }), "{err}");
        // An empty chain: a file truncated mid-rotation.
        let err = assert_refused(&files, &reloader, "", &a.1);
        assert!(err.to_string().contains("the file is empty"), "{err}");
        let err =
            assert_refused(&files, &reloader, "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n", &a.1);
        assert!(matches!(err, TlsSetupError::CertMalformed { .. }), "{err}");
        let err = assert_refused(&files, &reloader, &a.0, "-----BEGIN PRIVATE KEY-----\nAAAA\n");
        assert!(matches!(err, TlsSetupError::KeyMalformed { .. }), "{err}");

        fs::remove_file(files.key()).unwrap();
        let err = reloader.reload().unwrap_err();
        assert!(matches!(err, TlsSetupError::KeyUnreadable { .. }), "{err}");
        assert_eq!(served(&reloader), der_of(&a.0));

        // Fixed files are picked up by the next reload.
        files.write(&a.0, &a.1);
        assert!(reloader.reload().unwrap().unchanged);
    }
}
