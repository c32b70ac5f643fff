//! A throwaway certificate authority: the lab's TLS mode and the TLS tests make a CA, leaves it
//! signs (for 127.0.0.1 and localhost, good for serving and for client authentication), and a
//! rogue CA whose leaves must be refused, all written as PEM files.
use std::path::{Path, PathBuf};

/// A CA that signs server and client certificates.
pub struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Self, rcgen::Error> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_owned());
        let key = rcgen::KeyPair::generate()?;
        Ok(Self {
            issuer: rcgen::CertifiedIssuer::self_signed(p, key)?,
        })
    }

    /// Writes `NAME.crt` and `NAME.key` (mode 0600) in `dir`: a leaf for 127.0.0.1 and localhost
    /// signed by this CA, usable as a server's and as a client's certificate.
    pub fn leaf(&self, dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        let fail = |e: rcgen::Error| std::io::Error::other(e.to_string());
        let mut p =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(fail)?;
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_owned());
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let cert = p.signed_by(&key, &self.issuer).map_err(fail)?;
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem())?;
        std::fs::write(&k, key.serialize_pem())?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600))?;
        Ok((c, k))
    }

    /// Writes the CA's certificate as `NAME.crt` in `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        let p = dir.join(format!("{name}.crt"));
        std::fs::write(&p, self.issuer.pem())?;
        Ok(p)
    }
}
