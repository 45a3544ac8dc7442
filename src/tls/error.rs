//! Why the TLS set-up failed, one line per case, naming the file and what
//! to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A certificate or key problem found at start-up.
#[derive(Debug)]
pub enum TlsSetupError {
    /// The certificate file cannot be read (missing, permissions, a
    /// directory, too large).
    CertUnreadable { path: PathBuf, source: io::Error },
    /// The certificate file is not valid PEM, or its first certificate is
    /// not a valid X.509 certificate.
    CertMalformed { path: PathBuf, reason: String },
    /// No `CERTIFICATE` section in the certificate file. `hint` is empty or
    /// a parenthesised guess at the mistake, starting with a space.
    NoCertificates { path: PathBuf, hint: &'static str },
    /// The key file cannot be read.
    KeyUnreadable { path: PathBuf, source: io::Error },
    /// The key file is not valid PEM.
    KeyMalformed { path: PathBuf, reason: String },
    /// No unencrypted private key section in the key file. `hint` as in
    /// `NoCertificates`.
    NoPrivateKey { path: PathBuf, hint: &'static str },
    /// The ring provider cannot sign with this key (algorithm, curve or
    /// size it does not support, or a corrupt key).
    UnsupportedKey { path: PathBuf, reason: String },
    /// The key's public half is not the first certificate's public key.
    KeyDoesNotMatchCert { cert: PathBuf, key: PathBuf },
    /// The development certificate directory cannot be created.
    DevCertDir { path: PathBuf, source: io::Error },
    /// rcgen failed to make the development certificate.
    DevCertGenerate { reason: String },
    /// A development certificate file cannot be written (or its
    /// permissions tightened).
    DevCertWrite { path: PathBuf, source: io::Error },
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::CertUnreadable { path, source } => {
                write!(f, "cannot read certificate file {path:?}: {source}; check --cert")
            }
            TlsSetupError::CertMalformed { path, reason } => {
                write!(f, "certificate file {path:?} is malformed: {reason}")
            }
            TlsSetupError::NoCertificates { path, hint } => write!(
                f,
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in {path:?}{hint}; --cert needs the certificate \
                 chain, the server's own certificate first"
            ),
            TlsSetupError::KeyUnreadable { path, source } => {
                write!(f, "cannot read private key file {path:?}: {source}; check --key")
            }
            TlsSetupError::KeyMalformed { path, reason } => {
                write!(f, "private key file {path:?} is malformed: {reason}")
            }
            TlsSetupError::NoPrivateKey { path, hint } => write!(
                f,
                "no PEM private key in {path:?}{hint}; --key needs an unencrypted PKCS#8, SEC1 or PKCS#1 key \
                 (-----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY)"
            ),
            TlsSetupError::UnsupportedKey { path, reason } => write!(
                f,
                "cannot use the private key in {path:?}: {reason}; supported are ECDSA P-256/P-384, Ed25519 and \
                 RSA of 2048 bits or more"
            ),
            TlsSetupError::KeyDoesNotMatchCert { cert, key } => write!(
                f,
                "the private key {key:?} does not belong to the first certificate in {cert:?}; pass the matching \
                 key, and put the server's own certificate first in the chain"
            ),
            TlsSetupError::DevCertDir { path, source } => write!(
                f,
                "cannot create the development certificate directory {path:?}: {source}; pass --certs-dir DIR, \
                 or --cert and --key"
            ),
            TlsSetupError::DevCertGenerate { reason } => {
                write!(f, "cannot generate the development certificate: {reason}; pass --cert and --key")
            }
            TlsSetupError::DevCertWrite { path, source } => write!(
                f,
                "cannot write the development certificate file {path:?}: {source}; fix the permissions, pass \
                 --certs-dir DIR, or --cert and --key"
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsSetupError::CertUnreadable { source, .. }
            | TlsSetupError::KeyUnreadable { source, .. }
            | TlsSetupError::DevCertDir { source, .. }
            | TlsSetupError::DevCertWrite { source, .. } => Some(source),
            _ => None,
        }
    }
}
